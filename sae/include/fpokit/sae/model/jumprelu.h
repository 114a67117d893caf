#pragma once
// JumpReLU and Heaviside step with the rectangle-kernel straight-through estimator
// (Rajamanoharan et al. 2024, "Jumping Ahead"; the Gemma Scope training code). θ is the raw
// threshold (not exp(log θ): with Adam a log-parameterised θ barely moves, SAELens #718).
//
//   rect(u) = 1[-1/2 < u < 1/2],  ε = bandwidth
//   jumprelu(π, θ) = π · H(π − θ)      dπ = H(π − θ)·g      dθ = Σ_batch −(θ/ε)·rect((π−θ)/ε)·g
//   step(π, θ)     = H(π − θ)          dπ = 0               dθ = Σ_batch −(1/ε)·rect((π−θ)/ε)·g
//
// π has shape [..., d_sae], θ shape [d_sae]; the θ-gradient is summed over all leading dims.
#include <torch/types.h>

namespace fpokit::sae {

torch::Tensor jumprelu(const torch::Tensor& pre, const torch::Tensor& threshold, double bandwidth);
torch::Tensor heaviside_step(const torch::Tensor& pre, const torch::Tensor& threshold, double bandwidth);

}  // namespace fpokit::sae
