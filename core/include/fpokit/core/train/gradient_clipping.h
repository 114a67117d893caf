#pragma once
// Gradient clipping as torch.nn.utils.clip_grad_norm_ (which TRL/HF transformers and SAELens call):
// the global L2 norm over every gradient, and each gradient scaled by
// min(1, max_norm / (norm + 1e-6)). Shared by the SAE and preference trainers.
#include <vector>

#include <torch/types.h>

namespace fpokit::core {

// The global gradient norm of `params` before clipping, a float32 scalar on their device (undefined
// when no parameter has a gradient). With max_norm > 0 the gradients are clipped in place. Nothing
// here synchronises with the host: the scale factor stays a device tensor, so a caller that does
// not log the norm never waits for the GPU.
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace fpokit::core
