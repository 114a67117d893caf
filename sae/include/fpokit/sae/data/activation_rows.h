#pragma once
// A set of harvested tokens: one activation tensor per hook (same rows), with each row's token id,
// position in its context row, and the index of that context row. All tensors share the first
// dimension; activations are float32 (or the training dtype) on the training device.
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace fpokit::sae {

struct ActivationRows {
  std::vector<torch::Tensor> activations;  // per hook [n, d_in_h]
  torch::Tensor token_ids;                 // int64 [n]
  torch::Tensor positions;                 // int64 [n]
  torch::Tensor sequence_ids;              // int64 [n]

  int64_t size() const { return token_ids.defined() ? token_ids.size(0) : 0; }
  // Rows `index` (int64 tensor) of every field.
  ActivationRows select(const torch::Tensor& index) const;
  ActivationRows slice(int64_t start, int64_t end) const;
  ActivationRows to(const torch::Device& device) const;
  // Concatenation along rows; parts must have the same hooks. Empty parts are skipped.
  static ActivationRows cat(const std::vector<ActivationRows>& parts);
};

}  // namespace fpokit::sae
