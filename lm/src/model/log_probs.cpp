#include "fpokit/lm/model/log_probs.h"

#include <torch/torch.h>

namespace fpokit::lm {

torch::ScalarType log_prob_dtype(torch::ScalarType t) {
  return t == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor log_probs(const torch::Tensor& logits) {
  return torch::log_softmax(logits.to(log_prob_dtype(logits.scalar_type())), -1);
}

torch::Tensor gather_log_probs(const torch::Tensor& log_probs, const torch::Tensor& targets) {
  return log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
}

torch::Tensor next_token_cross_entropy(const torch::Tensor& logits, const torch::Tensor& ids) {
  return -gather_log_probs(log_probs(logits.slice(1, 0, -1)), ids.slice(1, 1));
}

torch::Tensor kl_divergence(const torch::Tensor& log_p, const torch::Tensor& log_q) {
  return (log_p.exp() * (log_p - log_q)).sum(-1);
}

}  // namespace fpokit::lm
