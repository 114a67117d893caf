#include "fpokit/sae/model/row_topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "fpokit/core/errors.h"

namespace fpokit::sae {

namespace {

// An entry as (order key, index). The key maps floats to unsigned integers in the same order,
// NaN above +inf and -0 equal to +0, so that ranking is two integer comparisons.
struct Candidate {
  uint32_t key;
  int64_t index;
};

inline uint32_t order_key(float v) {
  if (std::isnan(v)) return 0xFFFFFFFFu;
  v += 0.0f;  // -0 → +0: equal values tie
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

inline float key_value(uint32_t key) {  // the inverse, for the threshold (NaN keys never get here)
  const uint32_t bits = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// The selection order: larger key (NaN first, as torch::topk; then larger values), then the lower index.
inline bool ranks_before(const Candidate& a, const Candidate& b) {
  return a.key > b.key || (a.key == b.key && a.index < b.index);
}

inline float load(const float* p) { return *p; }
inline float load(const c10::BFloat16* p) {
  // bf16 is the top half of a float32: widening is a shift, which the scan loop vectorises.
  uint16_t raw;
  std::memcpy(&raw, p, sizeof raw);
  const uint32_t bits = static_cast<uint32_t>(raw) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Bit u set when !(p[u] <= t), for u < 32 (NaN sets its bit).
inline uint32_t above_mask(const float* p, float t) {
#if defined(__SSE2__)
  const __m128 tv = _mm_set1_ps(t);
  uint32_t m = 0;
  for (int q = 0; q < 8; ++q)
    m |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpnle_ps(_mm_loadu_ps(p + 4 * q), tv))) << (4 * q);
  return m;
#else
  uint32_t m = 0;
  for (int u = 0; u < 32; ++u) m |= static_cast<uint32_t>(!(p[u] <= t)) << u;
  return m;
#endif
}

inline uint32_t above_mask(const c10::BFloat16* p, float t) {
#if defined(__SSE2__)
  const __m128 tv = _mm_set1_ps(t);
  const __m128i zero = _mm_setzero_si128();
  uint32_t m = 0;
  for (int q = 0; q < 4; ++q) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * q));
    // Interleaving zeros below each bf16 widens it to the float32 it is the top half of.
    const __m128 lo = _mm_castsi128_ps(_mm_unpacklo_epi16(zero, raw));
    const __m128 hi = _mm_castsi128_ps(_mm_unpackhi_epi16(zero, raw));
    m |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpnle_ps(lo, tv))) << (8 * q);
    m |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpnle_ps(hi, tv))) << (8 * q + 4);
  }
  return m;
#else
  uint32_t m = 0;
  for (int u = 0; u < 32; ++u) m |= static_cast<uint32_t>(!(load(p + u) <= t)) << u;
  return m;
#endif
}

// Keeps the k best of entries streamed in increasing index order.
class StreamingTopK {
 public:
  StreamingTopK(int64_t k, int64_t capacity) : k_(k), capacity_(std::max(capacity, k + 1)) {
    buffer_.reserve(static_cast<size_t>(capacity_));
  }

  void reset() {
    buffer_.clear();
    pruned_ = closed_ = false;
  }

  template <typename T>
  void scan(const T* data, int64_t n, int64_t first_index) {
    int64_t j = 0;
    // Until the first prune there is no threshold: every entry is a candidate.
    for (; j < n && !pruned_; ++j) push(load(data + j), first_index + j);
    if (closed_) return;
    // An entry enters only when it ranks before the k-th best so far. Its index is larger, so
    // that means a larger value or NaN (with a non-NaN k-th): exactly !(v <= threshold). Blocks
    // of 32 are compared at once into a bit mask, and only the set bits are visited.
    for (; j + 32 <= n; j += 32) {
      uint32_t mask = above_mask(data + j, threshold_);
      while (mask != 0) {
        const int u = __builtin_ctz(mask);
        mask &= mask - 1;
        consider(load(data + j + u), first_index + j + u);  // re-checks: a prune may have raised the threshold
        if (closed_) return;
      }
    }
    for (; j < n && !closed_; ++j) consider(load(data + j), first_index + j);
  }

  // The k best (fewer if fewer were streamed), sorted by index.
  std::vector<Candidate>& finish() {
    if (static_cast<int64_t>(buffer_.size()) > k_) prune();
    std::sort(buffer_.begin(), buffer_.end(), [](const Candidate& a, const Candidate& b) { return a.index < b.index; });
    return buffer_;
  }

  std::vector<Candidate>& candidates() { return buffer_; }

 private:
  void push(float v, int64_t i) {
    buffer_.push_back({order_key(v), i});
    if (static_cast<int64_t>(buffer_.size()) == capacity_) prune();
  }
  void consider(float v, int64_t i) {
    if (v <= threshold_) return;
    push(v, i);
  }
  void prune() {
    std::nth_element(buffer_.begin(), buffer_.begin() + (k_ - 1), buffer_.end(), ranks_before);
    buffer_.resize(static_cast<size_t>(k_));
    const uint32_t kth = buffer_.back().key;
    pruned_ = true;
    closed_ = kth == 0xFFFFFFFFu;  // k NaNs with lower indices: nothing later can enter
    if (!closed_) threshold_ = key_value(kth);
  }

  int64_t k_, capacity_;
  std::vector<Candidate> buffer_;
  float threshold_ = 0.0f;
  bool pruned_ = false, closed_ = false;
};

// Room for k plus a few hundred candidates: the first prune happens early (a tight threshold
// soon), and later prunes are rare on random rows and cost O(capacity) when they happen.
int64_t capacity_for(int64_t k) { return std::max<int64_t>(2 * k, k + 256); }

// The selected entries' values are read back from the input (exact, -0 and NaN payloads included).
template <typename T>
void write(const std::vector<Candidate>& best, const T* data, T* values, int64_t* indices) {
  for (size_t i = 0; i < best.size(); ++i) {
    values[i] = data[best[i].index];
    indices[i] = best[i].index;
  }
}

template <typename T>
void select_rows(const T* data, int64_t B, int64_t F, int64_t k, T* values, int64_t* indices) {
  // Rows are independent; ~64k entries per task keeps the scheduling cost negligible.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(F, 1));
  at::parallel_for(0, B, grain, [&](int64_t begin, int64_t end) {
    StreamingTopK selector(k, capacity_for(k));
    for (int64_t b = begin; b < end; ++b) {
      selector.reset();
      selector.scan(data + b * F, F, 0);
      write(selector.finish(), data + b * F, values + b * k, indices + b * k);
    }
  });
}

template <typename T>
void select_flat(const T* data, int64_t n, int64_t k, T* values, int64_t* indices) {
  // Each thread keeps the k best of its contiguous range; the k best overall are among them.
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t chunk = (n + threads - 1) / threads;
  std::vector<std::vector<Candidate>> partial(static_cast<size_t>(threads));
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t lo = std::min(n, t * chunk), hi = std::min(n, lo + chunk);
      StreamingTopK selector(k, capacity_for(k));
      selector.scan(data + lo, hi - lo, lo);
      partial[static_cast<size_t>(t)] = std::move(selector.finish());
    }
  });
  StreamingTopK merged(k, capacity_for(k));
  auto& all = merged.candidates();
  for (auto& p : partial) all.insert(all.end(), p.begin(), p.end());
  write(merged.finish(), data, values, indices);  // finish() prunes to k by the same order
}

void check_input(const torch::Tensor& scores, int64_t k, int64_t n, const char* what) {
  if (k < 0 || k > n)
    throw InputError(std::string(what) + ": k = " + std::to_string(k) + " is outside [0, " + std::to_string(n) +
                     "], the number of entries it selects from");
}

bool fast_path(const torch::Tensor& scores) {
  return scores.device().is_cpu() &&
         (scores.scalar_type() == torch::kFloat32 || scores.scalar_type() == torch::kBFloat16);
}

// torch::topk, then each row's entries in index order (devices other than the CPU, other dtypes).
TopKSelection torch_topk_by_index(const torch::Tensor& scores, int64_t k) {
  const auto top = scores.topk(k, -1, /*largest=*/true, /*sorted=*/false);
  const auto [indices, perm] = std::get<1>(top).sort(-1);
  return {std::get<0>(top).gather(-1, perm), indices};
}

}  // namespace

TopKSelection row_topk(const torch::Tensor& scores, int64_t k) {
  TORCH_CHECK(scores.dim() == 2, "row_topk: expected a 2-D tensor, got ", scores.dim(), "-D");
  const int64_t B = scores.size(0), F = scores.size(1);
  check_input(scores, k, F, "row_topk");
  if (!fast_path(scores)) return torch_topk_by_index(scores, k);
  const auto input = scores.contiguous();
  TopKSelection out;
  out.values = torch::empty({B, k}, input.options());
  out.indices = torch::empty({B, k}, input.options().dtype(torch::kInt64));
  if (k == 0 || B == 0) return out;
  if (input.scalar_type() == torch::kFloat32)
    select_rows(input.data_ptr<float>(), B, F, k, out.values.data_ptr<float>(),
                out.indices.mutable_data_ptr<int64_t>());
  else
    select_rows(input.data_ptr<c10::BFloat16>(), B, F, k, out.values.data_ptr<c10::BFloat16>(),
                out.indices.mutable_data_ptr<int64_t>());
  return out;
}

TopKSelection flat_topk(const torch::Tensor& scores, int64_t k) {
  const auto flat = scores.reshape({-1});
  const int64_t n = flat.numel();
  check_input(scores, k, n, "flat_topk");
  if (!fast_path(scores)) {
    auto sel = torch_topk_by_index(flat.unsqueeze(0), k);
    return {sel.values.reshape({-1}), sel.indices.reshape({-1})};
  }
  const auto input = flat.contiguous();
  TopKSelection out;
  out.values = torch::empty({k}, input.options());
  out.indices = torch::empty({k}, input.options().dtype(torch::kInt64));
  if (k == 0) return out;
  if (input.scalar_type() == torch::kFloat32)
    select_flat(input.data_ptr<float>(), n, k, out.values.data_ptr<float>(), out.indices.mutable_data_ptr<int64_t>());
  else
    select_flat(input.data_ptr<c10::BFloat16>(), n, k, out.values.data_ptr<c10::BFloat16>(),
                out.indices.mutable_data_ptr<int64_t>());
  return out;
}

}  // namespace fpokit::sae
