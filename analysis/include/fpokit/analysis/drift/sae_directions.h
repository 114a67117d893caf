#pragma once
// The SAE's decoder rows in the raw activation space of the model (an SAE trained on inputs
// scaled by s divides its output by s when the scale is not folded in), and their norms: the
// report's delta_write column and the logit lens read these.
#include <Eigen/Core>
#include <torch/torch.h>

#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::analysis {

// float32 [d_sae, d_in], on the SAE's device.
torch::Tensor raw_decoder_directions(const sae::SparseAutoencoderImpl& sae);
// ||row f|| of raw_decoder_directions, float64 d_sae.
Eigen::VectorXd raw_decoder_norms(const sae::SparseAutoencoderImpl& sae);

}  // namespace fpokit::analysis
