#include "fpokit/core/train/gradient_clipping.h"

#include <torch/torch.h>

namespace fpokit::core {

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> squares;
  for (const auto& p : params)
    if (p.grad().defined()) squares.push_back(p.grad().to(torch::kFloat32).pow(2).sum());
  if (squares.empty()) return {};
  const auto norm = torch::stack(squares).sum().sqrt();
  if (max_norm > 0) {
    // clamp_max(1): a norm under the limit leaves the gradients exactly as they are.
    const auto coef = (max_norm / (norm + 1e-6)).clamp_max(1.0);
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(coef);
  }
  return norm;
}

}  // namespace fpokit::core
