#include "fpokit/sae/model/sae_losses.h"

#include <algorithm>
#include <limits>

#include <torch/torch.h>

#include "fpokit/sae/model/jumprelu.h"
#include "fpokit/sae/model/sparse_kernels.h"

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

namespace {

struct AuxTargets {
  int64_t k = 0;       // latents per token (0: nothing dead)
  double scale = 0.0;  // min(n_dead / k_aux, 1)
};

AuxTargets aux_targets(const torch::Tensor& dead_mask, int64_t d_in, int64_t k_aux) {
  if (!dead_mask.defined()) return {};
  const int64_t num_dead = dead_mask.sum().item<int64_t>();
  if (num_dead == 0) return {};
  const int64_t k_aux_target = k_aux > 0 ? k_aux : d_in / 2;
  return {std::min(k_aux_target, num_dead),
          std::min(static_cast<double>(num_dead) / static_cast<double>(k_aux_target), 1.0)};
}

torch::Tensor dead_only(const torch::Tensor& pre, const torch::Tensor& dead_mask) {
  return torch::where(dead_mask.to(torch::kBool), pre,
                      torch::full({}, -std::numeric_limits<float>::infinity(), pre.options()));
}

// scale · Σ‖ê − e‖² / Σ‖e − ē‖², 0 when the residual has no variance.
torch::Tensor normalised_aux_error(const torch::Tensor& e_hat, const torch::Tensor& e, double scale) {
  const auto variance = (e - e.mean(0, true)).pow(2).sum();
  return (scale * (e_hat - e).pow(2).sum() / variance).nan_to_num(0.0, 0.0, 0.0);
}

}  // namespace

torch::Tensor auxk_loss(const torch::Tensor& pre, const torch::Tensor& residual, const torch::Tensor& dead_mask,
                        const torch::Tensor& W_dec, int64_t k_aux) {
  const int64_t d_in = W_dec.size(1);
  const auto aux = aux_targets(dead_mask, d_in, k_aux);
  if (aux.k == 0) return torch::zeros({}, pre.options());
  const auto pre2 = pre.reshape({-1, pre.size(-1)});
  const auto e = residual.detach().reshape({-1, d_in});
  const auto top = dead_only(pre2, dead_mask).topk(aux.k, -1, true, false);
  const auto acts = torch::zeros_like(pre2).scatter(-1, std::get<1>(top), torch::relu(std::get<0>(top)));
  const auto e_hat = acts.matmul(W_dec);  // no b_dec: ê models the residual, which has none
  return normalised_aux_error(e_hat, e, aux.scale);
}

namespace {

// TopK/BatchTopK training forward and loss on the sparse path (sparse_kernels.h).
void sparse_topk_loss(const SparseAutoencoderImpl& sae, const torch::Tensor& x, const LossOptions& options,
                      const torch::Tensor& dead_mask, LossTerms& t) {
  const auto& c = sae.config();
  const auto x_c = c.apply_b_dec_to_input ? x - sae.b_dec : x;
  const auto b_dec = c.apply_b_dec_to_input ? sae.b_dec : torch::Tensor();  // for the sparse kernels
  torch::Tensor pre;
  {
    torch::NoGradGuard no_grad;
    pre = torch::addmm(sae.b_enc, x_c, sae.W_enc);
  }
  // Selecting on pre rather than relu(pre) keeps the same positive latents without a second
  // [B, F] pass: the two differ only in which non-positive entries fill a row with fewer than k
  // positives, and those are zero after the ReLU below, with zero gradient, either way.
  const auto selection =
      c.architecture == Architecture::TopK ? select_topk(pre, std::min(c.k, c.d_sae)) : select_batch_topk(pre, c.k);
  const auto values = torch::relu(gather_pre_activations(x, b_dec, sae.W_enc, sae.b_enc, pre, selection));
  t.forward.pre = pre;
  t.forward.selection = selection;
  t.forward.values = values;
  t.forward.reconstruction = sparse_decode(values, selection, sae.W_dec, sae.b_dec);
  t.reconstruction = reconstruction_loss(x, t.forward.reconstruction);
  t.total = t.reconstruction;
  const auto aux = aux_targets(dead_mask, c.d_in, options.k_aux);
  if (aux.k == 0) return;
  // The top k_aux among the dead latents only: a [B, n_dead] slice instead of a masked copy of pre.
  const auto dead_latents = dead_mask.to(torch::kBool).nonzero().reshape({-1});  // ascending
  const int64_t n_dead = dead_latents.size(0);
  auto aux_selection = select_topk(pre.index_select(1, dead_latents), aux.k);
  const auto e = (x - t.forward.reconstruction).detach();
  const int64_t dense_limit = options.auxk_dense_dead_limit >= 0 ? options.auxk_dense_dead_limit : 8 * aux.k;
  torch::Tensor e_hat;
  if (n_dead <= dense_limit) {
    // Few dead latents: dense products over their columns ([B, d]·[d, n_dead] and back) run at
    // matrix-unit speed, where B·k_aux gathers of d-vectors are bound by memory latency.
    auto chosen = torch::zeros({pre.size(0), n_dead}, pre.options().dtype(torch::kBool));
    chosen.index_put_({aux_selection.rows, aux_selection.cols}, true);
    const auto pre_dead =
        torch::addmm(sae.b_enc.index_select(0, dead_latents), x_c, sae.W_enc.index_select(1, dead_latents));
    const auto acts = torch::where(chosen, torch::relu(pre_dead), torch::zeros({}, pre_dead.options()));
    e_hat = acts.matmul(sae.W_dec.index_select(0, dead_latents));
  } else {
    aux_selection.cols = dead_latents.index_select(0, aux_selection.cols);
    const auto aux_values = torch::relu(gather_pre_activations(x, b_dec, sae.W_enc, sae.b_enc, pre, aux_selection));
    e_hat = sparse_decode(aux_values, aux_selection, sae.W_dec);
  }
  t.auxiliary = normalised_aux_error(e_hat, e, aux.scale);
  t.total = t.total + options.auxk_coefficient * t.auxiliary;
}

}  // namespace

LossTerms training_loss(const SparseAutoencoderImpl& sae, const torch::Tensor& x, const LossOptions& options,
                        const torch::Tensor& dead_mask) {
  LossTerms t;
  const auto& c = sae.config();
  if (options.sparse_kernels && sae.is_training() && x.dim() == 2 &&
      (c.architecture == Architecture::TopK || c.architecture == Architecture::BatchTopK)) {
    t.sparsity = torch::zeros({}, x.options());
    t.auxiliary = torch::zeros({}, x.options());
    sparse_topk_loss(sae, x, options, dead_mask, t);
    return t;
  }
  t.forward = sae.forward(x);
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
    case Architecture::Gated: {
      // L1 on the gate path's ReLU, weighted by decoder norms, and the auxiliary reconstruction
      // through the gate path with a frozen decoder, which is what trains the gate (its
      // Heaviside passes no gradient): SAELens GatedTrainingSAE, the paper's L_gated.
      const auto gate = torch::relu(t.forward.pre);
      t.sparsity = weighted_l1_loss(gate, sae.W_dec);
      t.auxiliary = reconstruction_loss(
          x, torch::addmm(sae.b_dec.detach(), gate.reshape({-1, c.d_sae}), sae.W_dec.detach()).reshape(x.sizes()));
      t.total = t.total + options.l1_coefficient * t.sparsity + t.auxiliary;
      break;
    }
    case Architecture::TopK:
    case Architecture::BatchTopK:
      t.auxiliary = auxk_loss(t.forward.pre, x - t.forward.reconstruction, dead_mask, sae.W_dec, options.k_aux);
      t.total = t.total + options.auxk_coefficient * t.auxiliary;
      break;
  }
  return t;
}

}  // namespace fpokit::sae
