#pragma once
// Attention core shared by the architectures: mask construction for right-padded batches, causal
// order, sliding windows and a KV cache; and scaled-dot-product attention through LibTorch's fused
// kernel, or an explicit float32-softmax path where logits are soft-capped (Gemma-2).
#include <cstdint>

#include <torch/types.h>

namespace fpokit::lm {

struct AttentionMask {
  torch::Tensor mask;      // bool [batch, 1, q_len, kv_len], true = may attend; undefined: none
  bool is_causal = false;  // no mask needed beyond plain causal order (lets SDPA use flash)
};

// padding_mask: [batch, past + q_len] (1 = real token) or undefined. sliding_window: 0 = none;
// otherwise query i sees key j iff i - window < j <= i (HF's convention).
AttentionMask make_attention_mask(int64_t q_len, int64_t past_len, const torch::Tensor& padding_mask,
                                  int64_t sliding_window, torch::Device device);

// Packed rows (ForwardInput::position_ids / segment_ids, no cache): query i sees key j iff j <= i
// in the row, key j is in the shared prefix (segment 0) or in i's segment, key j is not padding,
// and, with a sliding window, position_i - window < position_j: what each token sees in its own
// sequence laid out alone. Every query sees itself (see make_attention_mask on padded queries).
AttentionMask make_packed_attention_mask(const torch::Tensor& position_ids, const torch::Tensor& segment_ids,
                                         const torch::Tensor& padding_mask, int64_t sliding_window);

// q: [batch, heads, q_len, d]; k, v: [batch, kv_heads, kv_len, d] (grouped-query when
// kv_heads < heads). scale multiplies q k^T; softcap > 0 applies softcap * tanh(s / softcap) before
// the mask. Returns [batch, heads, q_len, d].
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, double scale, double softcap = 0.0);

}  // namespace fpokit::lm
