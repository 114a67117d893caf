#include "fpokit/sae/model/sparse_kernels.h"

#include <torch/torch.h>

namespace fpokit::sae {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor exclusive_offsets(const torch::Tensor& rows, int64_t B) {
  const auto counts = torch::bincount(rows, {}, B);
  return counts.cumsum(0) - counts;
}

// Σ_j weights_j · table[index_j] per bag; bags are consecutive runs of `index` starting at `offsets`.
torch::Tensor bag_sum(const torch::Tensor& table, const torch::Tensor& index, const torch::Tensor& offsets,
                      const torch::Tensor& weights) {
  return std::get<0>(torch::embedding_bag(table, index, offsets, /*scale_grad_by_freq=*/false, /*mode=sum*/ 0,
                                          /*sparse=*/false, weights));
}

class GatherPreActivations : public torch::autograd::Function<GatherPreActivations> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_c, const torch::Tensor& W_enc,
                               const torch::Tensor& b_enc, const torch::Tensor& values, const torch::Tensor& rows,
                               const torch::Tensor& cols) {
    ctx->save_for_backward({x_c, W_enc, rows, cols});
    ctx->saved_data["d_sae"] = b_enc.size(0);
    return values;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& x_c = saved[0];
    const auto& W_enc = saved[1];
    const auto& rows = saved[2];
    const auto& cols = saved[3];
    const int64_t F = ctx->saved_data["d_sae"].toInt();
    const int64_t B = x_c.size(0);
    const auto g = grad_outputs[0].to(torch::kFloat32).contiguous();
    // Both products are gather-sums, which embedding_bag does in parallel without materialising
    // the nnz × d outer products:
    //   dx_c[t]   = Σ_{(t,i)} g_ti · W_enc[:, i]   bags = rows (entries are row-sorted)
    //   dW_encᵀ[i] = Σ_{(t,i)} g_ti · x_c[t]        bags = latents (entries sorted by latent)
    torch::Tensor grad_x, grad_W, grad_b;
    if (ctx->needs_input_grad(0)) {
      const auto W_t = W_enc.to(torch::kFloat32).t().contiguous();  // [F, d]
      grad_x = bag_sum(W_t, cols, exclusive_offsets(rows, B), g).to(x_c.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      const auto order = std::get<1>(cols.sort());
      const auto sorted_cols = cols.index_select(0, order);
      grad_W = bag_sum(x_c.to(torch::kFloat32).contiguous(), rows.index_select(0, order),
                       exclusive_offsets(sorted_cols, F), g.index_select(0, order))
                   .t()
                   .contiguous()
                   .to(W_enc.scalar_type());
    }
    if (ctx->needs_input_grad(2)) grad_b = torch::zeros({F}, g.options()).index_add_(0, cols, g);
    return {grad_x, grad_W, grad_b, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

SparseSelection select_topk(const torch::Tensor& scores, int64_t k) {
  const int64_t B = scores.size(0);
  const auto idx = std::get<1>(scores.topk(k, -1, /*largest=*/true, /*sorted=*/false));
  const auto opts = torch::TensorOptions().dtype(torch::kInt64).device(scores.device());
  SparseSelection s;
  s.rows = torch::arange(B, opts).repeat_interleave(k);
  s.cols = idx.reshape({-1});
  s.offsets = torch::arange(0, B * k, k, opts);
  return s;
}

SparseSelection select_batch_topk(const torch::Tensor& scores, int64_t k) {
  const int64_t B = scores.size(0), F = scores.size(1);
  const int64_t keep = std::min<int64_t>(k * B, B * F);
  auto flat_idx = std::get<1>(scores.reshape({-1}).topk(keep, -1, true, false));
  flat_idx = std::get<0>(flat_idx.sort());  // row-major order = grouped by row
  SparseSelection s;
  s.rows = flat_idx.div(F, "floor");
  s.cols = flat_idx.remainder(F);
  s.offsets = exclusive_offsets(s.rows, B);
  return s;
}

torch::Tensor gather_pre_activations(const torch::Tensor& x_c, const torch::Tensor& W_enc, const torch::Tensor& b_enc,
                                     const torch::Tensor& pre, const SparseSelection& selection) {
  const auto values = pre.detach().index({selection.rows, selection.cols});
  return GatherPreActivations::apply(x_c, W_enc, b_enc, values, selection.rows, selection.cols);
}

torch::Tensor sparse_decode(const torch::Tensor& values, const SparseSelection& selection, const torch::Tensor& W_dec,
                            const torch::Tensor& bias) {
  auto out = std::get<0>(torch::embedding_bag(W_dec, selection.cols, selection.offsets, /*scale_grad_by_freq=*/false,
                                              /*mode=sum*/ 0, /*sparse=*/false, values.to(W_dec.scalar_type())));
  if (bias.defined()) out = out + bias;
  return out;
}

}  // namespace fpokit::sae
