#include "fpokit/sae/eval/sae_metrics.h"

#include <torch/torch.h>

#include "fpokit/core/errors.h"

namespace fpokit::sae {

void ReconstructionMetrics::add(const torch::Tensor& x, const torch::Tensor& x_hat, const torch::Tensor& features) {
  torch::NoGradGuard no_grad;
  const int64_t d_in = x.size(-1);
  const auto xs = x.detach().reshape({-1, d_in}).to(torch::kCPU, torch::kFloat64);
  const auto xh = x_hat.detach().reshape({-1, d_in}).to(torch::kCPU, torch::kFloat64);
  const auto f = features.detach().reshape({-1, features.size(-1)}).to(torch::kCPU);
  if (xs.size(0) != f.size(0) || xs.sizes() != xh.sizes())
    throw InputError("ReconstructionMetrics::add: x, x_hat and features disagree on the number of tokens");
  if (!sum_x_.defined()) {
    d_in_ = d_in;
    sum_x_ = torch::zeros({d_in}, torch::kFloat64);
    firing_counts_ = torch::zeros({f.size(1)}, torch::kInt64);
  } else if (d_in != d_in_ || f.size(1) != firing_counts_.size(0)) {
    throw InputError("ReconstructionMetrics::add: batch shapes changed between calls");
  }
  n_tokens_ += xs.size(0);
  sum_error_sq_ += (xs - xh).pow(2).sum().item<double>();
  sum_x_sq_ += xs.pow(2).sum().item<double>();
  sum_x_ += xs.sum(0);
  sum_cosine_ += torch::cosine_similarity(xs, xh, 1, 1e-8).sum().item<double>();
  const auto active = f != 0;
  sum_l0_ += active.sum().item<double>();
  firing_counts_ += active.sum(0).to(torch::kInt64);
}

double ReconstructionMetrics::l0() const { return n_tokens_ ? sum_l0_ / n_tokens_ : 0.0; }

double ReconstructionMetrics::fvu() const {
  if (!n_tokens_) return 0.0;
  // Σ‖x − x̄‖² = Σ‖x‖² − n‖x̄‖²
  const double centred = sum_x_sq_ - sum_x_.pow(2).sum().item<double>() / static_cast<double>(n_tokens_);
  return sum_error_sq_ / centred;
}

double ReconstructionMetrics::mse() const {
  return n_tokens_ ? sum_error_sq_ / (static_cast<double>(n_tokens_) * d_in_) : 0.0;
}

double ReconstructionMetrics::cosine_similarity() const { return n_tokens_ ? sum_cosine_ / n_tokens_ : 0.0; }

double l0_norm(const torch::Tensor& features) {
  return (features.detach().reshape({-1, features.size(-1)}) != 0).sum(-1).to(torch::kFloat64).mean().item<double>();
}

double fraction_of_variance_unexplained(const torch::Tensor& x, const torch::Tensor& x_hat) {
  const int64_t d = x.size(-1);
  const auto xs = x.detach().reshape({-1, d}).to(torch::kFloat64);
  const auto xh = x_hat.detach().reshape({-1, d}).to(torch::kFloat64);
  return ((xs - xh).pow(2).sum() / (xs - xs.mean(0, true)).pow(2).sum()).item<double>();
}

double mean_cosine_similarity(const torch::Tensor& x, const torch::Tensor& x_hat) {
  const int64_t d = x.size(-1);
  return torch::cosine_similarity(x.detach().reshape({-1, d}).to(torch::kFloat64),
                                  x_hat.detach().reshape({-1, d}).to(torch::kFloat64), 1, 1e-8)
      .mean()
      .item<double>();
}

FiringFractions firing_fractions(const torch::Tensor& firing_counts, int64_t num_tokens, double dense_threshold) {
  FiringFractions out;
  const auto counts = firing_counts.to(torch::kCPU, torch::kFloat64);
  const double n = static_cast<double>(counts.numel());
  if (n == 0) return out;
  out.dead = (counts == 0).sum().item<double>() / n;
  if (num_tokens > 0) out.dense = (counts / static_cast<double>(num_tokens) > dense_threshold).sum().item<double>() / n;
  return out;
}

}  // namespace fpokit::sae
