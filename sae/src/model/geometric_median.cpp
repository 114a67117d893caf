#include "fpokit/sae/model/geometric_median.h"

#include <torch/torch.h>

namespace fpokit::sae {

torch::Tensor geometric_median(const torch::Tensor& points, int64_t max_iterations, double tolerance) {
  const auto x = points.to(torch::kFloat64);
  auto median = x.mean(0);
  for (int64_t it = 0; it < max_iterations; ++it) {
    // Weights 1/‖x_i − m‖, floored so that a point sitting on the median does not divide by zero.
    const auto w = 1.0 / (x - median).norm(2, 1).clamp_min(1e-12);
    const auto next = (w.unsqueeze(1) * x).sum(0) / w.sum();
    const double moved = (next - median).norm().item<double>();
    median = next;
    if (moved <= tolerance * std::max(1.0, median.norm().item<double>())) break;
  }
  return median.to(points.options().dtype(torch::kFloat32));
}

}  // namespace fpokit::sae
