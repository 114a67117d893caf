#include "fpokit/sae/training/fused_update.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/Parallel.h>

#include "fpokit/sae/model/vector_loops.h"

namespace fpokit::sae {

namespace {

// The loops below are compiled for AVX-512 and AVX2 as well (FPOKIT_VECTOR_CLONES).

// Adam's constants for this step, in the precision torch::optim::Adam applies them to a float32
// tensor (its double scalars become float).
struct AdamConstants {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float sqrt_bias_correction2;
  float eps;
  float neg_step_size;  // −lr / (1 − β1^t)
};

// Σ (g − s·w/‖w‖)², the squared norm of a decoder row's projected gradient.
FPOKIT_VECTOR_CLONES
float projected_squared_norm(const float* g, const float* w, float s, float norm, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) {
      const float r = g[i + j] - s * (w[i + j] / norm);
      acc[j] += r * r;
    }
  float tail = 0;
  for (; i < n; ++i) {
    const float r = g[i] - s * (w[i] / norm);
    tail += r * r;
  }
  float total = 0;
  for (float x : acc) total += x;
  return total + tail;
}

// One Adam step on one element whose (projected, clipped) gradient is g: torch::optim::Adam's
//   m ← m·β1 + (1−β1)·g;  v ← v·β2 + (1−β2)·g·g;  p ← p − step·m / (√v / √bc2 + eps).
inline void adam_element(float& p, float g, float& m, float& v, const AdamConstants& k) {
  m = m * k.beta1 + k.one_minus_beta1 * g;
  v = v * k.beta2 + k.one_minus_beta2 * g * g;
  p = p + k.neg_step_size * (m / (std::sqrt(v) / k.sqrt_bias_correction2 + k.eps));
}

// The step on n elements whose gradient is g·coef.
FPOKIT_VECTOR_CLONES
void adam_span(float* p, const float* g, float* m, float* v, int64_t n, float coef, AdamConstants k) {
  for (int64_t i = 0; i < n; ++i) adam_element(p[i], g[i] * coef, m[i], v[i], k);
}

// The step for a decoder row, whose gradient is first projected off the row: g − s·w/‖w‖
// (with the row before the step).
FPOKIT_VECTOR_CLONES
void adam_decoder_row(float* w, const float* g, float* m, float* v, int64_t n, float s, float norm, float coef,
                      AdamConstants k) {
  for (int64_t i = 0; i < n; ++i) adam_element(w[i], (g[i] - s * (w[i] / norm)) * coef, m[i], v[i], k);
}

FPOKIT_VECTOR_CLONES
void scale(float* w, int64_t n, float divisor) {
  for (int64_t i = 0; i < n; ++i) w[i] = w[i] / divisor;
}

constexpr int64_t kChunk = 1 << 14;  // elements per task and per partial sum of a flat tensor

bool fusable_tensor(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

torch::optim::AdamParamState& adam_state(torch::optim::Adam& adam, const torch::Tensor& p) {
  auto& states = adam.state();
  auto it = states.find(p.unsafeGetTensorImpl());
  if (it == states.end()) {  // the first step, as torch::optim::Adam::step creates it
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->step(0);
    state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    it = states.emplace(p.unsafeGetTensorImpl(), std::move(state)).first;
  }
  return static_cast<torch::optim::AdamParamState&>(*it->second);
}

}  // namespace

bool can_fuse_update(const SparseAutoencoderImpl& sae, const torch::optim::Adam& adam) {
  if (adam.param_groups().size() != 1) return false;
  const auto& options = static_cast<const torch::optim::AdamOptions&>(adam.param_groups()[0].options());
  if (options.weight_decay() != 0 || options.amsgrad()) return false;
  for (const auto& p : adam.param_groups()[0].params()) {
    if (!fusable_tensor(p)) return false;
    const auto it = adam.state().find(p.unsafeGetTensorImpl());
    if (it == adam.state().end()) continue;
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*it->second);
    if (!fusable_tensor(s.exp_avg()) || !fusable_tensor(s.exp_avg_sq())) return false;
  }
  return fusable_tensor(sae.W_dec) && sae.W_dec.dim() == 2;
}

double fused_update(SparseAutoencoderImpl& sae, torch::optim::Adam& adam, const UpdateSettings& settings) {
  torch::NoGradGuard no_grad;
  auto& group = adam.param_groups()[0];
  auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
  options.lr(settings.lr);

  struct Work {
    torch::Tensor param, grad;
    bool decoder = false;
  };
  std::vector<Work> work;
  for (const auto& p : group.params()) {
    if (!p.grad().defined()) continue;  // Adam skips these too
    work.push_back({p, p.grad().contiguous().to(torch::kFloat32), p.is_same(sae.W_dec)});
  }
  if (work.empty()) return 0;

  // Pass 1: per decoder row ‖w‖ and s = g·w/‖w‖; the squared norm of every projected gradient,
  // in partial sums of fixed extent so that the result does not depend on the thread count.
  const int64_t rows = sae.W_dec.size(0), width = sae.W_dec.size(1);
  std::vector<float> row_norm(static_cast<size_t>(rows)), row_projection(static_cast<size_t>(rows));
  std::vector<double> partial;  // one entry per decoder row and per chunk of the other tensors
  std::vector<int64_t> first_partial(work.size());
  for (size_t t = 0; t < work.size(); ++t) {
    first_partial[t] = static_cast<int64_t>(partial.size());
    const bool by_row = work[t].decoder && settings.unit_norm_decoder;
    const int64_t count = by_row ? rows : (work[t].param.numel() + kChunk - 1) / kChunk;
    partial.resize(partial.size() + static_cast<size_t>(count), 0.0);
  }
  for (size_t t = 0; t < work.size(); ++t) {
    const float* g = work[t].grad.data_ptr<float>();
    double* out = partial.data() + first_partial[t];
    if (work[t].decoder && settings.unit_norm_decoder) {
      const float* w = work[t].param.data_ptr<float>();
      at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const float* wr = w + r * width;
          const float* gr = g + r * width;
          const float norm = std::max(std::sqrt(dot(wr, wr, width)), 1e-12f);
          const float s = dot(gr, wr, width) / norm;
          row_norm[static_cast<size_t>(r)] = norm;
          row_projection[static_cast<size_t>(r)] = s;
          out[r] = projected_squared_norm(gr, wr, s, norm, width);
        }
      });
    } else {
      const int64_t n = work[t].grad.numel();
      const int64_t chunks = (n + kChunk - 1) / kChunk;
      at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          const int64_t lo = c * kChunk, len = std::min(kChunk, n - lo);
          out[c] = dot(g + lo, g + lo, len);
        }
      });
    }
  }
  double squared = 0;
  for (double x : partial) squared += x;
  const double norm = std::sqrt(squared);
  // core::clip_grad_norm's coefficient: max/(norm+1e-6), never above 1.
  const float coef =
      settings.max_grad_norm > 0 ? static_cast<float>(std::min(1.0, settings.max_grad_norm / (norm + 1e-6))) : 1.0f;

  // Pass 2: Adam, and the decoder rows' renormalisation while each row is in cache.
  for (auto& item : work) {
    auto& state = adam_state(adam, item.param);
    state.step(state.step() + 1);
    const double step = static_cast<double>(state.step());
    const double bias_correction1 = 1 - std::pow(std::get<0>(options.betas()), step);
    const double bias_correction2 = 1 - std::pow(std::get<1>(options.betas()), step);
    AdamConstants k{};
    k.beta1 = static_cast<float>(std::get<0>(options.betas()));
    k.one_minus_beta1 = static_cast<float>(1 - std::get<0>(options.betas()));
    k.beta2 = static_cast<float>(std::get<1>(options.betas()));
    k.one_minus_beta2 = static_cast<float>(1 - std::get<1>(options.betas()));
    k.sqrt_bias_correction2 = static_cast<float>(std::sqrt(bias_correction2));
    k.eps = static_cast<float>(options.eps());
    k.neg_step_size = static_cast<float>(-settings.lr / bias_correction1);

    float* p = item.param.data_ptr<float>();
    const float* g = item.grad.data_ptr<float>();
    float* m = state.exp_avg().data_ptr<float>();
    float* v = state.exp_avg_sq().data_ptr<float>();
    if (item.decoder) {
      const bool unit = settings.unit_norm_decoder;
      at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t o = r * width;
          if (unit) {
            adam_decoder_row(p + o, g + o, m + o, v + o, width, row_projection[static_cast<size_t>(r)],
                             row_norm[static_cast<size_t>(r)], coef, k);
            scale(p + o, width, std::max(std::sqrt(dot(p + o, p + o, width)), 1e-12f));
          } else {
            adam_span(p + o, g + o, m + o, v + o, width, coef, k);
          }
        }
      });
    } else {
      const int64_t n = item.param.numel();
      at::parallel_for(0, (n + kChunk - 1) / kChunk, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          const int64_t lo = c * kChunk;
          adam_span(p + lo, g + lo, m + lo, v + lo, std::min(kChunk, n - lo), coef, k);
        }
      });
    }
  }
  return norm;
}

}  // namespace fpokit::sae
