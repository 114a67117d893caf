#pragma once
// LoRA adapters (Hu et al. 2021) on a model's Linear layers (and GPT-2's Conv1D, whose weight is
// stored transposed: PEFT's fan_in_fan_out), in PEFT's conventions so that PEFT
// loads what fpokit saves: for a target layer W [out, in],
//   y = x Wᵀ + b + (alpha / r) · dropout(x) Aᵀ Bᵀ,   A [r, in] ~ kaiming_uniform(a=√5), B [out, r] = 0
// (PEFT's default init: the adapted model starts equal to the base). The base weights are frozen.
// Disabling the adapters gives the base model back, which is how a LoRA run's reference is computed
// without a second copy of the model.
// Saved as adapter_config.json + adapter_model.safetensors with keys
//   base_model.model.<module path>.lora_A.weight / .lora_B.weight.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/lora_adapter.h"

namespace fpokit::lm {

struct LoraOptions {
  int64_t r = 8;
  double alpha = 16;
  double dropout = 0.0;
  std::vector<std::string> targets{"q_proj", "v_proj"};  // module-name suffixes
  std::string target_regex;  // PEFT's string form of target_modules: a full match on the module name
  bool use_rslora = false;   // scale alpha/√r instead of alpha/r
  uint64_t seed = 0;

  // ConfigError for r < 1, alpha <= 0 (a zero update) or dropout outside [0, 1).
  void validate() const;
};

class LoraAdapters {
 public:
  // Attaches an adapter to every Linear or Conv1D whose module name ends with a target, and freezes every
  // base parameter. Throws ConfigError when a target matches no Linear (listing the Linear names
  // the model has) or r < 1.
  static LoraAdapters attach(CausalLMImpl& model, const LoraOptions& options);

  const LoraOptions& options() const { return options_; }
  // PEFT names (without the base_model.model. prefix) and tensors, in module order.
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  std::vector<torch::Tensor> parameters() const;
  void set_enabled(bool enabled);
  size_t size() const { return layers_.size(); }

  // Reads a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) onto `model`:
  // target_modules as a list of names or a regex string, use_rslora (scale alpha/√r). Strict: one
  // InputError lists every missing, unexpected and mis-shaped tensor; DoRA, rank/alpha patterns
  // and LoRA biases are refused with an InputError.
  static LoraAdapters load_peft(CausalLMImpl& model, const std::filesystem::path& dir);

  // adapter_config.json + adapter_model.safetensors (float32), atomically into `dir`.
  void save_peft(const std::filesystem::path& dir, const std::string& base_model) const;
  // W += scale · B A (Conv1D: its transpose) for every adapter, then detaches them (the model becomes a plain model).
  void merge();

 private:
  bool any_transposed() const;  // a Conv1D target (PEFT's fan_in_fan_out)
  LoraOptions options_;
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> layers_;  // module path, LinearImpl
};

}  // namespace fpokit::lm
