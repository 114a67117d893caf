#pragma once
// Per-layer key/value cache for incremental decoding. Keys and values are stored after RoPE,
// shaped [batch, kv_heads, seq, head_dim], and grow by concatenation along seq.
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace fpokit::lm {

class KVCache {
 public:
  explicit KVCache(int64_t num_layers) : keys_(num_layers), values_(num_layers) {}

  // Number of cached positions (0 before the first forward).
  int64_t length() const { return keys_.empty() || !keys_[0].defined() ? 0 : keys_[0].size(2); }
  // Appends this step's k/v for `layer` and returns the full k/v to attend over.
  std::pair<torch::Tensor, torch::Tensor> append(int64_t layer, const torch::Tensor& k,
                                                 const torch::Tensor& v);
  void clear();

 private:
  std::vector<torch::Tensor> keys_;
  std::vector<torch::Tensor> values_;
};

}  // namespace fpokit::lm
