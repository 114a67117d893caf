#pragma once
// A sparse autoencoder in the SAELens weight convention:
//   W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in], threshold [d_sae]
//   (JumpReLU, and BatchTopK once saved for inference).
//   pre = (x − b_dec·apply_b_dec_to_input) @ W_enc + b_enc
//   f   = activation(pre)                (per architecture, see activate())
//   x̂   = f @ W_dec + b_dec
// encode()/decode() work in the SAE's (normalised) space; normalize_input()/denormalize_output()
// map raw activations in and out for the per-token schemes and an unfolded scale factor.
#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "fpokit/sae/model/sae_config.h"
#include "fpokit/sae/model/sparse_kernels.h"

namespace fpokit::sae {

class SparseAutoencoderImpl : public torch::nn::Module {
 public:
  // Parameters are allocated (zeros; see initialize_weights()) in float32 on the CPU.
  explicit SparseAutoencoderImpl(SaeConfig config);

  const SaeConfig& config() const { return config_; }
  SaeConfig& mutable_config() { return config_; }

  torch::Tensor pre_activations(const torch::Tensor& x) const;
  // TopK: ReLU then the k largest per token. BatchTopK in training mode: ReLU then the k·B
  // largest over the whole [B, d_sae] batch; in eval mode relu(π)·(relu(π) > θ_batch). ReLU: relu.
  // JumpReLU: π·(π > θ) with the straight-through estimator (see jumprelu.h). Gated: π is
  // π_gate; 1[π > 0]·relu((π − b_gate)·e^r_mag + b_mag), no gradient through the gate.
  torch::Tensor activate(const torch::Tensor& pre) const;
  torch::Tensor encode(const torch::Tensor& x) const { return activate(pre_activations(x)); }
  torch::Tensor decode(const torch::Tensor& features) const;

  struct Output {
    torch::Tensor pre;
    torch::Tensor features;  // dense [.., d_sae]; undefined on the sparse training path
    torch::Tensor reconstruction;
    // Sparse training path (sae_losses.h, sparse_kernels.h): the selected entries and values.
    SparseSelection selection;
    torch::Tensor values;
  };
  Output forward(const torch::Tensor& x) const;

  // Raw activations <-> SAE space for config().normalization (identity for None).
  torch::Tensor normalize_input(const torch::Tensor& x) const;
  torch::Tensor denormalize_output(const torch::Tensor& x_hat, const torch::Tensor& raw_x) const;
  // x̂ in raw space: denormalize(decode(encode(normalize(x)))).
  torch::Tensor reconstruct(const torch::Tensor& raw_x) const;

  // Folds an ExpectedAverageOnlyIn scale s into the weights (W_enc·s, W_dec/s, b_dec/s; b_enc
  // and θ unchanged, as SAELens) so the SAE takes raw activations; sets normalization None.
  void fold_activation_scale();
  // Folds ‖W_dec_i‖ into the encoder (W_enc·n, b_enc·n, θ·n, W_dec/n): the same x̂, unit-norm
  // decoder rows, and features measured in decoder-norm units (SAELens _fold_norm_topk).
  void fold_decoder_norms();

  // BatchTopK: θ ← (1−rate)·θ + rate·min(positive features in the batch), as SAELens
  // (float64, rate 0.01). No-op for other architectures or a batch with no positive feature.
  void update_batch_topk_threshold(const torch::Tensor& features, double rate = 0.01);
  // BatchTopK's global inference threshold (a float64 scalar buffer); undefined otherwise.
  torch::Tensor batch_topk_threshold() const { return batch_topk_threshold_; }
  void set_batch_topk_threshold(double theta);

  torch::Tensor W_enc, b_enc, W_dec, b_dec;
  torch::Tensor threshold;  // JumpReLU only (a parameter); undefined otherwise
  // Gated only: the magnitude path's per-latent log scale and bias. The gate bias b_gate is b_enc
  // (saved as "b_gate" in the SAELens layout), so pre_activations() is π_gate.
  torch::Tensor r_mag, b_mag;

 private:
  SaeConfig config_;
  torch::Tensor batch_topk_threshold_;
};
TORCH_MODULE(SparseAutoencoder);

// Initialisation (in place, no grad). The decoder is kaiming-uniform [d_sae, d_in] with rows
// rescaled to `decoder_row_norm`, the encoder is its transpose, biases are zero; JumpReLU θ is
// filled with `initial_threshold`. Use decoder_row_norm 0.1 for the ReLU/L1 recipe (SAELens v6,
// Anthropic April 2024) and 1 for TopK/BatchTopK/JumpReLU (unit-norm dictionary).
struct InitOptions {
  double decoder_row_norm = 1.0;
  double initial_threshold = 0.001;  // the JumpReLU paper's value
  uint64_t seed = 0;
};
void initialize_weights(SparseAutoencoderImpl& sae, const InitOptions& options);
// The recommended options for the SAE's architecture (0.1 norm for ReLU, 1 otherwise).
InitOptions default_init_options(Architecture architecture, uint64_t seed = 0);

// Decoder helpers for a trainer (no grad; in place):
// rows of W_dec [d_sae, d_in] rescaled to unit L2 norm;
void normalize_decoder_rows(torch::Tensor& W_dec);
// the gradient's component along each row removed, g_i −= (g_i·ŵ_i) ŵ_i, so that an optimizer
// step moves rows tangentially (followed by normalize_decoder_rows after the step).
void remove_decoder_gradient_parallel(torch::Tensor& W_dec);

}  // namespace fpokit::sae
