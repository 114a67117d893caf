#include "fpokit/lm/model/rotary.h"

#include <cmath>

#include <torch/torch.h>

namespace fpokit::lm {

namespace {

torch::Tensor default_inv_freq(double base, int64_t dim) {
  // HF: 1 / base ** (arange(0, dim, 2).float() / dim), in float32.
  const auto exponent = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
  return 1.0 / torch::pow(base, exponent);
}

// transformers' _compute_llama3_parameters.
torch::Tensor llama3_inv_freq(const torch::Tensor& inv_freq, const RopeConfig& rope) {
  const double old_context = static_cast<double>(rope.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / rope.low_freq_factor;
  const double high_freq_wavelen = old_context / rope.high_freq_factor;
  const auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq);
  const auto smooth = (old_context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
  const auto smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
  const auto is_medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return torch::where(is_medium, smoothed, scaled);
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const RopeConfig& rope, int64_t head_dim, int64_t max_position_embeddings)
    : rope_(rope),
      rotary_dim_(static_cast<int64_t>(static_cast<double>(head_dim) * rope.partial_rotary_factor)),
      max_position_embeddings_(rope.original_max_position_embeddings > 0 ? rope.original_max_position_embeddings
                                                                         : max_position_embeddings) {
  inv_freq_ = default_inv_freq(rope_.theta, rotary_dim_);
  switch (rope_.scaling) {
    case RopeScaling::None:
    case RopeScaling::Dynamic: break;  // dynamic: the original frequencies up to max positions
    case RopeScaling::Linear: inv_freq_ = inv_freq_ / rope_.factor; break;
    case RopeScaling::Llama3: inv_freq_ = llama3_inv_freq(inv_freq_, rope_); break;
  }
}

torch::Tensor RotaryEmbedding::inv_freq_for(int64_t seq_end) const {
  if (rope_.scaling != RopeScaling::Dynamic || seq_end <= max_position_embeddings_) return inv_freq_;
  // transformers' _compute_dynamic_ntk_parameters with seq_len = the longest position + 1.
  const double dim = static_cast<double>(rotary_dim_);
  const double base = rope_.theta * std::pow(rope_.factor * static_cast<double>(seq_end) /
                                                     static_cast<double>(max_position_embeddings_) -
                                                 (rope_.factor - 1.0),
                                             dim / (dim - 2.0));
  return default_inv_freq(base, rotary_dim_);
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cos_sin(int64_t past, int64_t seq, torch::ScalarType dtype,
                                                                 torch::Device device) const {
  const auto inv_freq = inv_freq_for(past + seq).to(device);
  const auto positions =
      torch::arange(past, past + seq, torch::TensorOptions(torch::kInt64).device(device)).to(torch::kFloat32);
  const auto freqs = torch::outer(positions, inv_freq);
  const auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cos_sin_at(const torch::Tensor& position_ids,
                                                                    torch::ScalarType dtype) const {
  // Dynamic NTK takes the longest position + 1, as transformers does from position_ids.
  const int64_t end = position_ids.numel() > 0 ? position_ids.max().item<int64_t>() + 1 : 1;
  const auto inv_freq = inv_freq_for(end).to(position_ids.device());
  // The products outer() forms in cos_sin, element by element: the same float32 values.
  const auto freqs = position_ids.to(torch::kFloat32).unsqueeze(-1) * inv_freq;  // [batch, seq, dim/2]
  const auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                  // [batch, 1, seq, dim]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor RotaryEmbedding::apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const {
  const bool partial = rotary_dim_ < x.size(-1);
  const auto rot = partial ? x.narrow(-1, 0, rotary_dim_) : x;
  const int64_t half = rotary_dim_ / 2;
  const auto rotated_half = torch::cat({-rot.narrow(-1, half, half), rot.narrow(-1, 0, half)}, -1);
  const auto out = rot * cos + rotated_half * sin;
  if (!partial) return out;
  return torch::cat({out, x.narrow(-1, rotary_dim_, x.size(-1) - rotary_dim_)}, -1);
}

}  // namespace fpokit::lm
