#pragma once
// GPT2LMHeadModel: learned absolute positions, pre-LayerNorm blocks, fused q/k/v in GPT-2's
// Conv1D layout ([in, out]), tied output embedding by default. Parameter names are HF's:
// transformer.{wte, wpe, h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_f},
// lm_head (only when untied). The original OpenAI checkpoints (openai-community/gpt2) store the
// same names without the "transformer." prefix, plus attn.bias / attn.masked_bias mask buffers;
// both are accepted.
#include <torch/types.h>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/checkpoint/config_reader.h"

namespace fpokit::lm::arch::gpt2 {

ModelConfig parse_config(const ConfigReader& reader);
CausalLM build(const ModelConfig& config, const torch::TensorOptions& options);

}  // namespace fpokit::lm::arch::gpt2
