#include "fpokit/lm/model/attention.h"

#include <torch/torch.h>

namespace fpokit::lm {

AttentionMask make_attention_mask(int64_t q_len, int64_t past_len, const torch::Tensor& padding_mask,
                                  int64_t sliding_window, torch::Device device) {
  const int64_t kv_len = past_len + q_len;
  const bool has_padding = padding_mask.defined() && !padding_mask.to(torch::kBool).all().item<bool>();
  const bool window_bites = sliding_window > 0 && kv_len > sliding_window;
  if (!has_padding && !window_bites) {
    // Plain causal order. A single new token (decoding) may see everything in the cache.
    if (past_len == 0) return {torch::Tensor(), true};
    if (q_len == 1) return {torch::Tensor(), false};
  }
  const auto opts = torch::TensorOptions(torch::kInt64).device(device);
  const auto q_pos = torch::arange(past_len, kv_len, opts).unsqueeze(1);  // [q, 1]
  const auto k_pos = torch::arange(0, kv_len, opts).unsqueeze(0);         // [1, kv]
  auto allowed = k_pos <= q_pos;
  if (sliding_window > 0) allowed = allowed.logical_and(k_pos > q_pos - sliding_window);
  auto mask = allowed.unsqueeze(0).unsqueeze(0);  // [1, 1, q, kv]
  if (has_padding) {
    const auto keys = padding_mask.to(device).to(torch::kBool).unsqueeze(1).unsqueeze(1);  // [b, 1, 1, kv]
    // A padded query may see only padded keys (inside a sliding window past the end): a fully
    // masked row gives NaN, and NaN values poison real rows through 0 * NaN in probs @ V. Letting
    // every query see itself changes nothing for real tokens, which always see themselves.
    mask = mask.logical_and(keys).logical_or(k_pos == q_pos);
  }
  return {mask, false};
}

AttentionMask make_packed_attention_mask(const torch::Tensor& position_ids, const torch::Tensor& segment_ids,
                                         const torch::Tensor& padding_mask, int64_t sliding_window) {
  const int64_t seq = position_ids.size(1);
  const auto device = position_ids.device();
  const auto index = torch::arange(seq, torch::TensorOptions(torch::kInt64).device(device));
  const auto q_index = index.view({1, seq, 1}), k_index = index.view({1, 1, seq});
  const auto q_seg = segment_ids.unsqueeze(2), k_seg = segment_ids.unsqueeze(1);  // [b, q, 1], [b, 1, kv]
  auto allowed = (k_index <= q_index).logical_and(k_seg.eq(0).logical_or(k_seg.eq(q_seg)));
  if (sliding_window > 0)
    allowed = allowed.logical_and(position_ids.unsqueeze(1) > position_ids.unsqueeze(2) - sliding_window);
  if (padding_mask.defined()) allowed = allowed.logical_and(padding_mask.to(device).to(torch::kBool).unsqueeze(1));
  allowed = allowed.logical_or(k_index == q_index);
  return {allowed.unsqueeze(1), false};  // [b, 1, q, kv]
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, double scale, double softcap) {
  const bool grouped = k.size(1) != q.size(1);
  if (softcap <= 0.0) {
    // An undefined tensor inside the optional is not "no mask" to SDPA: pass nullopt.
    const std::optional<at::Tensor> attn_mask =
        mask.mask.defined() ? std::optional<at::Tensor>(mask.mask) : std::nullopt;
    return at::scaled_dot_product_attention(q, k, v, attn_mask, /*dropout_p=*/0.0, mask.is_causal, scale,
                                            /*enable_gqa=*/grouped);
  }
  // Soft-capped logits (Gemma-2): explicit attention with a float32 softmax, as HF's eager path.
  const int64_t groups = q.size(1) / k.size(1);
  const auto kk = grouped ? k.repeat_interleave(groups, 1) : k;
  const auto vv = grouped ? v.repeat_interleave(groups, 1) : v;
  auto scores = torch::matmul(q, kk.transpose(-2, -1)) * scale;
  scores = torch::tanh(scores / softcap) * softcap;
  if (mask.mask.defined()) {
    scores = scores.masked_fill(mask.mask.logical_not(), -std::numeric_limits<float>::infinity());
  } else if (mask.is_causal) {
    const int64_t ql = q.size(2), kl = k.size(2);
    const auto causal = torch::ones({ql, kl}, torch::TensorOptions(torch::kBool).device(q.device())).tril(kl - ql);
    scores = scores.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity());
  }
  const auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(probs, vv);
}

}  // namespace fpokit::lm
