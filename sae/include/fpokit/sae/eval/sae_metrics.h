#pragma once
// Evaluation metrics with their exact definitions (docs/sae.md, 'Evaluation metrics'). All
// reductions pool tokens over everything added, in float64, so that a metric over many batches
// equals the metric over their concatenation.
//   L0      = mean_t #{i : f_ti != 0}
//   FVU     = Σ_t ‖x_t − x̂_t‖² / Σ_t ‖x_t − x̄‖²     x̄ = the mean over all tokens added (pooled)
//   MSE     = Σ_t ‖x_t − x̂_t‖² / (n_tokens · d_in)  (element mean; the SAELens training loss is
//             d_in times this)
//   cosine  = mean_t cos(x_t, x̂_t)
//   dead fraction  = #{i : fired_i == 0} / d_sae
//   dense fraction = #{i : fired_i / n_tokens > dense_threshold} / d_sae (threshold stated, e.g. 0.1)
#include <cstdint>

#include <torch/types.h>

namespace fpokit::sae {

class ReconstructionMetrics {
 public:
  // x, x_hat [..., d_in], features [..., d_sae]. Any device; results are kept on the CPU.
  void add(const torch::Tensor& x, const torch::Tensor& x_hat, const torch::Tensor& features);

  int64_t num_tokens() const { return n_tokens_; }
  double l0() const;
  double fvu() const;
  double explained_variance() const { return 1.0 - fvu(); }
  double mse() const;
  double cosine_similarity() const;
  // Per latent: the number of tokens on which it fired (f != 0), int64 [d_sae].
  const torch::Tensor& firing_counts() const { return firing_counts_; }

 private:
  int64_t n_tokens_ = 0;
  int64_t d_in_ = 0;
  double sum_error_sq_ = 0.0;
  double sum_x_sq_ = 0.0;
  double sum_cosine_ = 0.0;
  double sum_l0_ = 0.0;
  torch::Tensor sum_x_;  // float64 [d_in]
  torch::Tensor firing_counts_;
};

// One-batch helpers (same definitions).
double l0_norm(const torch::Tensor& features);
double fraction_of_variance_unexplained(const torch::Tensor& x, const torch::Tensor& x_hat);
double mean_cosine_similarity(const torch::Tensor& x, const torch::Tensor& x_hat);

struct FiringFractions {
  double dead = 0.0;
  double dense = 0.0;
};
FiringFractions firing_fractions(const torch::Tensor& firing_counts, int64_t num_tokens, double dense_threshold = 0.1);

}  // namespace fpokit::sae
