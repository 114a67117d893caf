#include "fpokit/sae/sae_losses.h"

#include <algorithm>
#include <limits>

#include <torch/torch.h>

#include "fpokit/sae/jumprelu.h"

namespace fpokit::sae {

torch::Tensor reconstruction_loss(const torch::Tensor& x, const torch::Tensor& x_hat) {
  return (x_hat - x).pow(2).sum(-1).mean();
}

torch::Tensor weighted_l1_loss(const torch::Tensor& features, const torch::Tensor& W_dec) {
  return (features * W_dec.norm(2, 1)).abs().sum(-1).mean();
}

torch::Tensor jumprelu_l0_loss(const torch::Tensor& pre, const torch::Tensor& threshold, double bandwidth) {
  return heaviside_step(pre, threshold, bandwidth).sum(-1).mean();
}

torch::Tensor auxk_loss(const torch::Tensor& pre, const torch::Tensor& residual, const torch::Tensor& dead_mask,
                        const torch::Tensor& W_dec, int64_t k_aux) {
  const auto zero = torch::zeros({}, pre.options());
  if (!dead_mask.defined()) return zero;
  const int64_t num_dead = dead_mask.sum().item<int64_t>();
  if (num_dead == 0) return zero;
  const int64_t d_in = W_dec.size(1);
  const int64_t k_aux_target = k_aux > 0 ? k_aux : d_in / 2;
  const double scale = std::min(static_cast<double>(num_dead) / static_cast<double>(k_aux_target), 1.0);
  const int64_t k = std::min(k_aux_target, num_dead);

  const auto pre2 = pre.reshape({-1, pre.size(-1)});
  const auto e = residual.detach().reshape({-1, d_in});
  const auto masked = torch::where(dead_mask.to(torch::kBool), pre2,
                                   torch::full({}, -std::numeric_limits<float>::infinity(), pre2.options()));
  const auto top = masked.topk(k, -1, true, false);
  const auto acts = torch::zeros_like(pre2).scatter(-1, std::get<1>(top), torch::relu(std::get<0>(top)));
  const auto e_hat = acts.matmul(W_dec);  // no b_dec: ê models the residual, which has none
  const auto variance = (e - e.mean(0, true)).pow(2).sum();
  return (scale * (e_hat - e).pow(2).sum() / variance).nan_to_num(0.0, 0.0, 0.0);
}

LossTerms training_loss(const SparseAutoencoderImpl& sae, const torch::Tensor& x, const LossOptions& options,
                        const torch::Tensor& dead_mask) {
  LossTerms t;
  t.forward = sae.forward(x);
  const auto& c = sae.config();
  t.reconstruction = reconstruction_loss(x, t.forward.reconstruction);
  t.sparsity = torch::zeros({}, x.options());
  t.auxiliary = torch::zeros({}, x.options());
  t.total = t.reconstruction;
  switch (c.architecture) {
    case Architecture::ReLU:
      t.sparsity = weighted_l1_loss(t.forward.features, sae.W_dec);
      t.total = t.total + options.l1_coefficient * t.sparsity;
      break;
    case Architecture::JumpReLU:
      t.sparsity = jumprelu_l0_loss(t.forward.pre, sae.threshold, c.jumprelu_bandwidth);
      t.total = t.total + options.l0_coefficient * t.sparsity;
      break;
    case Architecture::TopK:
    case Architecture::BatchTopK:
      t.auxiliary = auxk_loss(t.forward.pre, x - t.forward.reconstruction, dead_mask, sae.W_dec, options.k_aux);
      t.total = t.total + options.auxk_coefficient * t.auxiliary;
      break;
  }
  return t;
}

}  // namespace fpokit::sae
