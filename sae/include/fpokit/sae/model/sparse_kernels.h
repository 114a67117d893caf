#pragma once
// The sparse training path of TopK and BatchTopK SAEs. The dense path computes
//   pre = x_c W_enc + b_enc,  f = select(relu(pre)),  x̂ = f W_dec + b_dec
// and its backward multiplies dense [B, F] gradients through both matrices: ~12·d·F FLOPs per
// token. But only the k selected entries of f per token are non-zero, so
//   - the decoder is a gather-sum of k rows of W_dec (embedding_bag; backward O(k·d));
//   - the encoder's backward needs the gradient at the selected (token, latent) pairs only: a
//     sparse [B, F] matrix G with B·k entries gives dW_enc = x_cᵀ G and dx_c = G W_encᵀ, O(k·d),
//     both computed as embedding_bag gather-sums (3× faster on CPU than sparse COO matmuls).
// Only the forward `pre` stays dense (2·d·F), computed without autograd. The values and
// gradients equal the dense path's (tests/sae/test_sparse_kernels.cpp).
#include <cstdint>

#include <torch/types.h>

namespace fpokit::sae {

// A row-sorted list of selected (row, latent) entries, CSR-style.
struct SparseSelection {
  torch::Tensor rows;     // int64 [nnz], non-decreasing
  torch::Tensor cols;     // int64 [nnz]
  torch::Tensor offsets;  // int64 [B]: where each row's entries start (embedding_bag offsets)
};

// The k largest entries of each row of `scores` [B, F].
SparseSelection select_topk(const torch::Tensor& scores, int64_t k);
// The k·B largest entries of the whole batch (BatchTopK training).
SparseSelection select_batch_topk(const torch::Tensor& scores, int64_t k);

// pre[rows, cols] as an autograd function of (x, b_dec, W_enc, b_enc), where
// pre = (x − b_dec) W_enc + b_enc (b_dec undefined: pre = x W_enc + b_enc). The forward reads
// the values from `pre` (computed without grad; recomputed in float32 when `pre` is bf16); the
// backward is sparse, as above, and b_dec's gradient one matrix-vector product.
torch::Tensor gather_pre_activations(const torch::Tensor& x, const torch::Tensor& b_dec, const torch::Tensor& W_enc,
                                     const torch::Tensor& b_enc, const torch::Tensor& pre,
                                     const SparseSelection& selection);

// Σ_j values_j · W_dec[cols_j] per row (+ bias when defined): [B, d_in].
torch::Tensor sparse_decode(const torch::Tensor& values, const SparseSelection& selection, const torch::Tensor& W_dec,
                            const torch::Tensor& bias = {});

}  // namespace fpokit::sae
