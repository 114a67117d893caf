#pragma once
// Gemma2ForCausalLM (Gemma 2: 2B, 9B, 27B). Against Llama it adds: a sqrt(hidden_size) embedding
// scale, (1 + w) RMSNorms, a norm after attention and after the MLP as well as before each,
// attention scaled by query_pre_attn_scalar^-0.5 with tanh soft-capped logits, sliding-window
// attention on alternate layers, and soft-capped final logits.
// Parameter names are HF's: model.embed_tokens, model.layers.N.{self_attn.{q,k,v,o}_proj,
// mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
// post_feedforward_layernorm}, model.norm, lm_head (absent when tied, the default).
#include <torch/types.h>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/checkpoint/config_reader.h"

namespace fpokit::lm::arch::gemma2 {

ModelConfig parse_config(const ConfigReader& reader);
CausalLM build(const ModelConfig& config, const torch::TensorOptions& options);

}  // namespace fpokit::lm::arch::gemma2
