#pragma once
// The geometric median of a point set (argmin_m Σ_i ‖x_i − m‖) by Weiszfeld's iteration, started
// at the mean, in float64. SAELens and Anthropic initialise b_dec with it: unlike the mean it is
// not dragged by the few very-high-norm tokens of the residual stream.
#include <cstdint>

#include <torch/types.h>

namespace fpokit::sae {

// points [n, d] -> [d] (float32, same device). Stops when the median moves less than `tolerance`
// times its norm, or after max_iterations.
torch::Tensor geometric_median(const torch::Tensor& points, int64_t max_iterations = 100, double tolerance = 1e-6);

}  // namespace fpokit::sae
