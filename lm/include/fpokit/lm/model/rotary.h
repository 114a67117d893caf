#pragma once
// Rotary position embeddings (RoPE) with HF's rope types: default, linear, llama3 and dynamic
// (NTK). Frequencies and angles are computed in float32, then cos/sin are cast to the activations'
// dtype, as HF does. Partial rotary (GPT-NeoX rotary_pct) rotates the first rotary_dim features of
// each head and passes the rest through.
#include <cstdint>
#include <utility>

#include <torch/types.h>

#include "fpokit/lm/checkpoint/model_config.h"

namespace fpokit::lm {

class RotaryEmbedding {
 public:
  RotaryEmbedding(const RopeConfig& rope, int64_t head_dim, int64_t max_position_embeddings);

  int64_t rotary_dim() const { return rotary_dim_; }
  // cos, sin: [seq, rotary_dim] for positions [past, past + seq), in `dtype` on `device`.
  std::pair<torch::Tensor, torch::Tensor> cos_sin(int64_t past, int64_t seq, torch::ScalarType dtype,
                                                  torch::Device device) const;
  // cos, sin: [batch, 1, seq, rotary_dim] for per-token positions [batch, seq] (packed rows); the
  // same values cos_sin gives at those positions.
  std::pair<torch::Tensor, torch::Tensor> cos_sin_at(const torch::Tensor& position_ids, torch::ScalarType dtype) const;
  // x: [batch, heads, seq, head_dim] -> rotated.
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;

 private:
  torch::Tensor inv_freq_for(int64_t seq_end) const;  // dynamic NTK depends on the length
  RopeConfig rope_;
  int64_t rotary_dim_;
  int64_t max_position_embeddings_;
  torch::Tensor inv_freq_;  // float32, CPU
};

}  // namespace fpokit::lm
