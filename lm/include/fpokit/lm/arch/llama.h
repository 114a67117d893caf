#pragma once
// LlamaForCausalLM and its close relatives, one module: Llama 2/3 (rope_scaling llama3 included),
// Mistral (sliding window), Qwen2 (bias on q/k/v; optional sliding window on upper layers).
// Parameter names are HF's: model.embed_tokens, model.layers.N.{self_attn.{q,k,v,o}_proj,
// mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm}, model.norm, lm_head.
#include <torch/types.h>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/checkpoint/config_reader.h"

namespace fpokit::lm::arch::llama {

ModelConfig parse_llama_config(const ConfigReader& reader);
ModelConfig parse_mistral_config(const ConfigReader& reader);
ModelConfig parse_qwen2_config(const ConfigReader& reader);
CausalLM build(const ModelConfig& config, const torch::TensorOptions& options);

}  // namespace fpokit::lm::arch::llama
