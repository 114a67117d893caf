#pragma once
// Exact top-k selection for SAE training on the CPU, faster than torch::topk at SAE widths.
//
// torch::topk copies every row into (value, index) pairs and runs nth_element over all F of them.
// For k ≪ F almost every entry can be rejected with one comparison against the k-th best value
// seen so far, so each row is scanned once, in blocks that the compiler vectorises, and only the
// few entries above the running threshold go into a small candidate buffer that nth_element
// prunes back to k when it fills. Work is O(F) comparisons plus O(k log(F/k)) candidates on
// random rows; a sorted ascending row (every entry a new best) stays O(F).
//
// The order is torch::topk's: larger values first and NaN above everything. torch::topk leaves
// the choice among equal values to its nth_element; this selection takes the lower latent index,
// so it is deterministic, and equal to torch::topk's whenever the k-th value is not tied.
// Selected entries come out sorted by index (ascending), which also makes the gathers that follow
// walk W_dec and W_enc in order.
#include <cstdint>

#include <torch/types.h>

namespace fpokit::sae {

struct TopKSelection {
  torch::Tensor values;   // [B, k] (or [k·B] for batch_topk), the input's dtype
  torch::Tensor indices;  // int64, same shape: column indices (flat indices for batch_topk)
};

// The k largest entries of each row of a 2-D float32 or bfloat16 tensor. CPU tensors use the
// threshold scan above; other devices use torch::topk, then sort each row's indices.
TopKSelection row_topk(const torch::Tensor& scores, int64_t k);

// The k largest entries of the whole (flattened) tensor, indices ascending: BatchTopK training.
TopKSelection flat_topk(const torch::Tensor& scores, int64_t k);

}  // namespace fpokit::sae
