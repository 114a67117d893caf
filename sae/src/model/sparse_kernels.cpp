#include "fpokit/sae/model/sparse_kernels.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "fpokit/sae/model/row_topk.h"
#include "fpokit/sae/model/vector_loops.h"

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

// m [R, C] as a contiguous float32 [C, R]. On the CPU a tiled parallel copy: t().contiguous()
// reads the source with a stride of C floats, several times slower at SAE sizes (2·32 MB per
// transposed W_enc at d = 512, F = 16384).
torch::Tensor transposed_copy(const torch::Tensor& m) {
  const auto src = m.to(torch::kFloat32).contiguous();
  if (!src.device().is_cpu()) return src.t().contiguous();
  const int64_t R = src.size(0), C = src.size(1);
  auto out = torch::empty({C, R}, src.options());
  const float* s = src.data_ptr<float>();
  float* o = out.data_ptr<float>();
  // Each 64×64 tile is read row by row into a local buffer, then written out column by column:
  // reading the source down a column instead touches lines C·4 bytes apart, which at
  // power-of-two widths share one L1 set and evict each other (about 2× slower here).
  constexpr int64_t kTile = 64;
  at::parallel_for(0, (C + kTile - 1) / kTile, 1, [&](int64_t begin, int64_t end) {
    float tile[kTile][kTile + 1];
    for (int64_t ct = begin; ct < end; ++ct) {
      const int64_t c0 = ct * kTile, nc = std::min(C, c0 + kTile) - c0;
      for (int64_t r0 = 0; r0 < R; r0 += kTile) {
        const int64_t nr = std::min(R, r0 + kTile) - r0;
        for (int64_t r = 0; r < nr; ++r)
          for (int64_t c = 0; c < nc; ++c) tile[r][c] = s[(r0 + r) * C + c0 + c];
        for (int64_t c = 0; c < nc; ++c)
          for (int64_t r = 0; r < nr; ++r) o[(c0 + c) * R + r0 + r] = tile[r][c];
      }
    }
  });
  return out;
}

// The float32 values x_c[rows_j] · W_enc[:, cols_j] + b_enc[cols_j], with W_t = W_encᵀ [F, d].
torch::Tensor selected_dots(const torch::Tensor& x_c, const torch::Tensor& W_t, const torch::Tensor& b_enc,
                            const SparseSelection& selection) {
  const auto x = x_c.to(torch::kFloat32).contiguous();
  const auto b = b_enc.to(torch::kFloat32).contiguous();
  const auto rows = selection.rows.contiguous(), cols = selection.cols.contiguous();
  const int64_t nnz = rows.numel(), d = x.size(1);
  auto out = torch::empty({nnz}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* wp = W_t.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  const int64_t* rp = rows.data_ptr<int64_t>();
  const int64_t* cp = cols.data_ptr<int64_t>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, nnz, std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) op[j] = dot(xp + rp[j] * d, wp + cp[j] * d, d) + bp[cp[j]];
  });
  return out;
}

// The same values on other devices, as one batched product: [nnz, 1, d] · [nnz, d, 1].
torch::Tensor selected_dots_batched(const torch::Tensor& x_c, const torch::Tensor& W_enc, const torch::Tensor& b_enc,
                                    const SparseSelection& selection) {
  const auto xs = x_c.to(torch::kFloat32).index_select(0, selection.rows);
  const auto ws = W_enc.to(torch::kFloat32).t().index_select(0, selection.cols);
  return (xs * ws).sum(1) + b_enc.to(torch::kFloat32).index_select(0, selection.cols);
}

class GatherPreActivations : public torch::autograd::Function<GatherPreActivations> {
 public:
  // Inputs x, b_dec (empty: x is already centred), W_enc, b_enc; `values` are the outputs'
  // values, computed by the caller; W_t is W_encᵀ when the caller made it (or empty). (Empty,
  // not undefined: a custom function's inputs must all be defined tensors.)
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& b_dec,
                               const torch::Tensor& W_enc, const torch::Tensor& b_enc, const torch::Tensor& values,
                               const torch::Tensor& rows, const torch::Tensor& cols, const torch::Tensor& W_t) {
    const auto x_c = b_dec.numel() > 0 ? x - b_dec : x;
    ctx->save_for_backward({x_c, W_enc, rows, cols});
    ctx->saved_data["d_sae"] = b_enc.size(0);
    if (W_t.numel() > 0) ctx->saved_data["W_t"] = W_t;
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
    // The products are gather-sums, which embedding_bag does in parallel without materialising
    // the nnz × d outer products:
    //   dx[t]      = Σ_{(t,i)} g_ti · W_enc[:, i]   bags = rows (entries are row-sorted)
    //   dW_encᵀ[i] = Σ_{(t,i)} g_ti · x_c[t]        bags = latents (entries sorted by latent)
    //   db_enc[i]  = Σ_{(t,i)} g_ti
    //   db_dec     = −Σ_t dx[t] = −W_enc · db_enc    (one matrix-vector product: b_dec reaches the
    //                                                 encoder through every row of x − b_dec)
    torch::Tensor grad_x, grad_b_dec, grad_W, grad_b;
    if (ctx->needs_input_grad(0)) {
      const auto W_t = ctx->saved_data.count("W_t") ? ctx->saved_data["W_t"].toTensor() : transposed_copy(W_enc);
      grad_x = bag_sum(W_t, cols, exclusive_offsets(rows, B), g).to(x_c.scalar_type());
    }
    if (ctx->needs_input_grad(2)) {
      const auto order = std::get<1>(cols.sort());
      const auto sorted_cols = cols.index_select(0, order);
      grad_W = bag_sum(x_c.to(torch::kFloat32).contiguous(), rows.index_select(0, order),
                       exclusive_offsets(sorted_cols, F), g.index_select(0, order));
      grad_W = transposed_copy(grad_W).to(W_enc.scalar_type());
    }
    if (ctx->needs_input_grad(1) || ctx->needs_input_grad(3)) {
      const auto per_latent = torch::zeros({F}, g.options()).index_add_(0, cols, g);
      if (ctx->needs_input_grad(3)) grad_b = per_latent;
      if (ctx->needs_input_grad(1)) grad_b_dec = -torch::mv(W_enc.to(torch::kFloat32), per_latent);
    }
    return {grad_x, grad_b_dec, grad_W, grad_b, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

SparseSelection select_topk(const torch::Tensor& scores, int64_t k) {
  const int64_t B = scores.size(0);
  const auto idx = row_topk(scores, k).indices;
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
  const auto flat_idx = flat_topk(scores, keep).indices;  // ascending = grouped by row
  SparseSelection s;
  s.rows = flat_idx.div(F, "floor");
  s.cols = flat_idx.remainder(F);
  s.offsets = exclusive_offsets(s.rows, B);
  return s;
}

torch::Tensor gather_pre_activations(const torch::Tensor& x, const torch::Tensor& b_dec, const torch::Tensor& W_enc,
                                     const torch::Tensor& b_enc, const torch::Tensor& pre,
                                     const SparseSelection& selection) {
  // A float32 `pre` holds the values already. A lower-precision one (bf16 autocast) only chose
  // the latents: their values are recomputed in float32, B·k·d multiply-adds against the 2·B·F·d
  // of the product, so the reconstruction and every gradient see float32 activations.
  torch::Tensor values, W_t;
  if (pre.scalar_type() == torch::kFloat32) {
    values = pre.detach().index({selection.rows, selection.cols});
  } else {
    torch::NoGradGuard no_grad;
    const auto x_c = b_dec.defined() ? x.detach() - b_dec.detach() : x.detach();
    if (x.device().is_cpu()) {
      W_t = transposed_copy(W_enc.detach());  // kept for the backward's dx, when x needs one
      values = selected_dots(x_c, W_t, b_enc.detach(), selection);
    } else {
      values = selected_dots_batched(x_c, W_enc.detach(), b_enc.detach(), selection);
    }
  }
  const auto empty = torch::empty({0}, x.options());
  return GatherPreActivations::apply(x, b_dec.defined() ? b_dec : empty, W_enc, b_enc, values, selection.rows,
                                     selection.cols, W_t.defined() && x.requires_grad() ? W_t : empty);
}

torch::Tensor sparse_decode(const torch::Tensor& values, const SparseSelection& selection, const torch::Tensor& W_dec,
                            const torch::Tensor& bias) {
  auto out = std::get<0>(torch::embedding_bag(W_dec, selection.cols, selection.offsets, /*scale_grad_by_freq=*/false,
                                              /*mode=sum*/ 0, /*sparse=*/false, values.to(W_dec.scalar_type())));
  if (bias.defined()) out = out + bias;
  return out;
}

}  // namespace fpokit::sae
