#pragma once
// One LoRA adapter as a Linear / Conv1D layer holds it (layers.h): the low-rank update
//   delta(x) = scale · dropout(x) Aᵀ Bᵀ.
// Kept apart from lora.h (attaching adapters to a whole CausalLM, PEFT files) so that the layers
// need not know the model: layers.h -> lora_adapter.h, and lora.h -> causal_lm.h -> layers.h.
#include <torch/types.h>

namespace fpokit::lm {

struct LoraAdapter {
  torch::Tensor A, B;  // [r, in], [out, r], float32 or the layer's dtype, requires_grad
  double scale = 1.0;  // alpha / r (alpha / √r with rsLoRA)
  double dropout = 0.0;
  bool enabled = true;
  // The update for input x, in x's dtype; dropout only when `training`.
  torch::Tensor delta(const torch::Tensor& x, bool training) const;
};

}  // namespace fpokit::lm
