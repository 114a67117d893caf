#include "fpokit/analysis/drift/sae_directions.h"

namespace fpokit::analysis {

torch::Tensor raw_decoder_directions(const sae::SparseAutoencoderImpl& sae) {
  torch::Tensor directions = sae.W_dec.detach().to(torch::kFloat32);
  if (sae.config().normalization == sae::ActivationNormalization::ExpectedAverageOnlyIn)
    directions = directions / sae.config().activation_scale;
  return directions;
}

Eigen::VectorXd raw_decoder_norms(const sae::SparseAutoencoderImpl& sae) {
  const auto norms = raw_decoder_directions(sae).norm(2, 1).to(torch::kFloat64).cpu().contiguous();
  return Eigen::Map<const Eigen::VectorXd>(norms.data_ptr<double>(), norms.numel());
}

}  // namespace fpokit::analysis
