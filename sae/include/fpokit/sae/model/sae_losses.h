#pragma once
// Training losses as pure functions of tensors. Conventions (SAELens v6 training):
//   reconstruction = mean_t Σ_d (x̂ − x)²                       (sum over d_in, mean over tokens)
//   ReLU:     sparsity = mean_t Σ_i |f_i|·‖W_dec_i‖             (decoder-norm-weighted L1, p = 1)
//   JumpReLU: sparsity = mean_t Σ_i step(π_i, θ_i)              (L0 through the rectangle STE)
//   TopK / BatchTopK: auxiliary = AuxK (below), no sparsity term
//   total = reconstruction + λ_sparsity·sparsity + α_aux·auxiliary
//
// AuxK (Gao et al. 2024), written without the references' bugs:
//   e     = (x − x̂).detach()                         target = the residual, no gradient into x̂
//   a     = top-k_aux of relu(π) over dead latents only   (k_aux capped at the number dead)
//   ê     = a @ W_dec                                  NO b_dec (sparsify #132, SAELens add it twice)
//   aux   = min(n_dead/k_aux, 1) · Σ_t‖ê_t − e_t‖² / Σ_t‖e_t − ē‖²
//           (residual-variance normalised as dictionary_learning / OpenAI; 0 when nothing is dead
//            or the residual has no variance). The gradient reaches the dead latents' encoder
//            columns through π (sparsify's fused encoder drops it) and their decoder rows.
#include <cstdint>

#include <torch/types.h>

#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::sae {

torch::Tensor reconstruction_loss(const torch::Tensor& x, const torch::Tensor& x_hat);
torch::Tensor weighted_l1_loss(const torch::Tensor& features, const torch::Tensor& W_dec);
torch::Tensor jumprelu_l0_loss(const torch::Tensor& pre, const torch::Tensor& threshold, double bandwidth);
// k_aux <= 0 means d_in / 2 (sparsify, SAELens, dictionary_learning).
torch::Tensor auxk_loss(const torch::Tensor& pre, const torch::Tensor& residual, const torch::Tensor& dead_mask,
                        const torch::Tensor& W_dec, int64_t k_aux);

struct LossOptions {
  double l1_coefficient = 5.0;         // ReLU (SAELens default l1_coefficient)
  double l0_coefficient = 1.0;         // JumpReLU (SAELens default)
  double auxk_coefficient = 1.0 / 32;  // TopK / BatchTopK (Gao et al.)
  int64_t k_aux = 0;                   // <= 0: d_in / 2
  // TopK/BatchTopK: gather the selected pre-activations and decode with embedding_bag, with a
  // sparse encoder backward (sparse_kernels.h): the same values and gradients as the dense path
  // at ~2·d·F + O(k·d) per token instead of ~6·d·F.
  bool sparse_kernels = false;
  // Sparse path, AuxK: with at most this many dead latents (< 0: 8·k_aux) the auxiliary
  // reconstruction uses dense products over the dead latents' columns, which beat B·k_aux
  // gathers up to about that size; above it, the gathers. Same loss and gradients either way.
  int64_t auxk_dense_dead_limit = -1;
};

struct LossTerms {
  torch::Tensor total;
  torch::Tensor reconstruction;
  torch::Tensor sparsity;  // ReLU / JumpReLU / Gated; a zero scalar otherwise
  // TopK / BatchTopK: AuxK with a dead mask; Gated: the gate path's frozen-decoder
  // reconstruction (weight 1); a zero scalar otherwise.
  torch::Tensor auxiliary;
  SparseAutoencoderImpl::Output forward;
};

// One training forward pass on x (already in SAE space). dead_mask [d_sae] bool (may be
// undefined = nothing dead) selects the latents AuxK may use.
LossTerms training_loss(const SparseAutoencoderImpl& sae, const torch::Tensor& x, const LossOptions& options,
                        const torch::Tensor& dead_mask = {});

}  // namespace fpokit::sae
