#pragma once
// The N largest activations of every feature seen so far, with where they occurred, kept in
// bounded memory (2 · N · d_sae values) as a drift pass streams through the data. Positions are
// codes `sequence_index · stride + position` chosen by the caller. After the pass, the contexts of
// the selected features are re-read (drift_run.cpp): only their sequences are run again.
#include <cstdint>
#include <utility>
#include <vector>

#include <torch/types.h>

namespace fpokit::analysis {

class TopActivations {
 public:
  TopActivations(int64_t d_sae, int64_t n);
  // activations [T, d_sae] float32 (any device; kept on it), codes [T] int64. Only positive
  // activations are ever reported.
  void add(const torch::Tensor& activations, const torch::Tensor& codes);
  // Feature f's entries, largest first: (activation, code), positive activations only.
  std::vector<std::pair<float, int64_t>> top(int64_t feature) const;
  int64_t size() const { return n_; }

 private:
  int64_t d_sae_, n_;
  torch::Tensor values_;  // [n, d_sae], -inf where empty
  torch::Tensor codes_;   // [n, d_sae]
  mutable torch::Tensor cpu_values_, cpu_codes_;
};

}  // namespace fpokit::analysis
