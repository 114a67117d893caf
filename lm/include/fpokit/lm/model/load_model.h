#pragma once
// Loading a HuggingFace model directory: config.json -> architecture -> module -> strict weight
// loading. Every missing, unexpected or mis-shaped tensor is reported in one CheckpointError.
#include <filesystem>
#include <string>

#include <torch/types.h>

#include "fpokit/lm/checkpoint/checkpoint.h"
#include "fpokit/lm/model/causal_lm.h"

namespace fpokit::lm {

struct LoadOptions {
  torch::Device device = torch::kCPU;
  // Parameters' dtype. nullopt: float32 on CPU, the checkpoint's torch_dtype elsewhere.
  std::optional<torch::ScalarType> dtype;
};

// Parses "cpu", "cuda", "cuda:1"; InputError otherwise, or when CUDA is asked for and absent.
torch::Device parse_device(const std::string& text);
// Parses "float32"/"fp32", "bfloat16"/"bf16", "float16"/"fp16"; "auto" gives nullopt.
std::optional<torch::ScalarType> parse_dtype(const std::string& text);
// The dtype load_model gives the parameters: options.dtype, else float32 on CPU and the
// checkpoint's torch_dtype elsewhere.
torch::ScalarType resolve_dtype(const LoadOptions& options, const ModelConfig& config);

ModelConfig load_model_config(const std::filesystem::path& model_dir);

// InputError when sequences of `tokens` tokens do not fit the model's max_position_embeddings
// ("--context-size 4096 is longer than ... max_position_embeddings (2048)"): beyond it GPT-2 has
// no position embedding and RoPE models run outside what they were trained on, silently.
void check_context_fits(const ModelConfig& config, int64_t tokens, const std::string& option);

// The context size a command harvests, encodes or evaluates with. `requested` > 0 (the user's
// --context-size) is checked with check_context_fits and taken. 0 means "not given": the
// `preferred` size when it is > 0 and fits (the context an SAE was trained with, from its cfg.json),
// else min(1024, max_position_embeddings), the same rule in acts cache, sae train, sae encode and
// sae eval. `note` says which was chosen and why ("--context-size not given: 256 tokens per row
// (the model's max_position_embeddings)"), empty when it was given: callers log it once their
// other checks have passed, so that a bad command still prints one line.
struct ContextSize {
  int64_t tokens = 0;
  std::string note;
};
ContextSize resolve_context_size(const ModelConfig& config, int64_t requested, int64_t preferred = 0);

// Copies the checkpoint into the module's parameters (converting dtype, moving to the module's
// device). Throws CheckpointError listing every problem at once.
void load_weights(CausalLMImpl& model, const Checkpoint& checkpoint);

CausalLM load_model(const std::filesystem::path& model_dir, const LoadOptions& options = {});

}  // namespace fpokit::lm
