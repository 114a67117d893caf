#pragma once
// GPTNeoXForCausalLM (Pythia, GPT-NeoX-20B): LayerNorm blocks with a fused per-head q/k/v
// projection, partial rotary embeddings (rotary_pct of each head) and, by default, parallel
// residuals x + attn(ln1(x)) + mlp(ln2(x)), which have no hook_resid_mid. Parameter names are the
// checkpoints': gpt_neox.{embed_in, layers.N.{input_layernorm, post_attention_layernorm,
// attention.{query_key_value, dense}, mlp.{dense_h_to_4h, dense_4h_to_h}}, final_layer_norm},
// embed_out (transformers >= 5 calls it lm_head in memory; either spelling loads).
#include <torch/types.h>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/checkpoint/config_reader.h"

namespace fpokit::lm::arch::gpt_neox {

ModelConfig parse_config(const ConfigReader& reader);
CausalLM build(const ModelConfig& config, const torch::TensorOptions& options);

}  // namespace fpokit::lm::arch::gpt_neox
