#include "fpokit/analysis/stats/paired_feature_accumulator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "fpokit/analysis/stats/benjamini_hochberg.h"
#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// A row with fewer than d_sae / 8 non-zero (base or aligned) entries takes the scalar loop that
// skips zeros; SAE activations (L0 ~ 10-200 of thousands) nearly always do.
constexpr int64_t kSparseRowFraction = 8;
constexpr int64_t kBlock = 32;  // features per all-zero test in a sparse row
}  // namespace

PairedFeatureAccumulator::PairedFeatureAccumulator(int64_t d_sae, LogHistogramSpec spec, BootstrapOptions boot)
    : d_sae_(d_sae),
      hist_base_(d_sae, spec),  // validates d_sae and the spec first
      hist_aligned_(d_sae, spec),
      sequences_(d_sae, boot) {
  for (CountVector* v : {&active_base_, &active_aligned_, &on_off_, &off_on_}) *v = CountVector::Zero(d_sae);
  for (Eigen::VectorXd* v : {&sum_base_, &sum_aligned_, &sum_sq_base_, &sum_sq_aligned_, &sum_cross_, &sum_abs_diff_}) {
    *v = Eigen::VectorXd::Zero(d_sae);
  }
  max_base_ = Eigen::VectorXd::Constant(d_sae, -kInf);
  max_aligned_ = Eigen::VectorXd::Constant(d_sae, -kInf);
  diff_sum_ = Eigen::VectorXd::Zero(d_sae);
}

void PairedFeatureAccumulator::add(const ActivationBatch& batch) {
  // Everything that can throw happens before the first update.
  const auto runs = validate_batch(batch, d_sae_);
  sequences_.check_continuation(runs);
  const auto selected = [&](int64_t t) { return batch.mask == nullptr || batch.mask[t] != 0; };
  for (int64_t t = 0; t < batch.n_tokens; ++t) {
    if (!selected(t)) continue;
    check_activation_row(batch.base + t * d_sae_, d_sae_, t, "base");
    check_activation_row(batch.aligned + t * d_sae_, d_sae_, t, "aligned");
  }

  for (const SequenceRun& run : runs) {
    diff_sum_.setZero();
    int64_t n_selected = 0;
    for (int64_t t = run.begin; t < run.end; ++t) {
      if (!selected(t)) continue;
      const float* row_b = batch.base + t * d_sae_;
      const float* row_a = batch.aligned + t * d_sae_;
      // Both paths give bit-identical results: the dense one only adds exact zeros on top.
      const auto nonzero = ((Eigen::Map<const Eigen::ArrayXf>(row_b, d_sae_) != 0.0f) ||
                            (Eigen::Map<const Eigen::ArrayXf>(row_a, d_sae_) != 0.0f))
                               .count();
      if (nonzero * kSparseRowFraction < d_sae_) {
        add_sparse_row(row_b, row_a);
      } else {
        add_dense_row(row_b, row_a);
      }
      ++n_selected;
    }
    n_tokens_ += n_selected;
    sequences_.add_sequence(run.sequence_id, n_selected, diff_sum_);
  }
}

void PairedFeatureAccumulator::add_dense_row(const float* row_b, const float* row_a) {
  const Eigen::Map<const Eigen::ArrayXf> bf(row_b, d_sae_);
  const Eigen::Map<const Eigen::ArrayXf> af(row_a, d_sae_);
  // Products and differences of two floats are exact in double: only the sums round.
  const auto b = bf.cast<double>();
  const auto a = af.cast<double>();
  sum_base_.array() += b;
  sum_aligned_.array() += a;
  sum_sq_base_.array() += b * b;
  sum_sq_aligned_.array() += a * a;
  sum_cross_.array() += b * a;
  sum_abs_diff_.array() += (a - b).abs();
  diff_sum_.array() += a - b;
  max_base_ = max_base_.cwiseMax(b.matrix());
  max_aligned_ = max_aligned_.cwiseMax(a.matrix());
  const auto on_b = bf > 0.0f;
  const auto on_a = af > 0.0f;
  active_base_.array() += on_b.cast<int64_t>();
  active_aligned_.array() += on_a.cast<int64_t>();
  on_off_.array() += (on_b && !on_a).cast<int64_t>();
  off_on_.array() += (!on_b && on_a).cast<int64_t>();
  hist_base_.add_row(row_b);
  hist_aligned_.add_row(row_a);
}

namespace {

// Whether a block of both rows is all (+-)0: an OR of the bit patterns without the sign bit, a
// loop the compiler vectorises, so that the scan over a sparse row costs a fraction of a cycle per
// entry and only blocks with a non-zero entry reach the scalar loop.
bool block_is_zero(const float* b, const float* a, int64_t n) {
  uint32_t bits = 0;
  for (int64_t i = 0; i < n; ++i) bits |= std::bit_cast<uint32_t>(b[i]) | std::bit_cast<uint32_t>(a[i]);
  return (bits & 0x7FFFFFFFu) == 0;
}

}  // namespace

void PairedFeatureAccumulator::add_sparse_row(const float* row_b, const float* row_a) {
  for (int64_t block = 0; block < d_sae_; block += kBlock) {
    const int64_t end = std::min(d_sae_, block + kBlock);
    if (block_is_zero(row_b + block, row_a + block, end - block)) continue;
    for (int64_t f = block; f < end; ++f) add_sparse_entry(f, row_b[f], row_a[f]);
  }
}

void PairedFeatureAccumulator::add_sparse_entry(int64_t f, float bf, float af) {
  if (bf == 0.0f && af == 0.0f) return;  // adds exactly 0 to every sum and count
  const double b = bf, a = af;
  sum_base_[f] += b;
  sum_aligned_[f] += a;
  sum_sq_base_[f] += b * b;
  sum_sq_aligned_[f] += a * a;
  sum_cross_[f] += b * a;
  sum_abs_diff_[f] += std::fabs(a - b);
  diff_sum_[f] += a - b;
  max_base_[f] = std::max(max_base_[f], b);
  max_aligned_[f] = std::max(max_aligned_[f], a);
  if (b > 0.0) {
    ++active_base_[f];
    if (a == 0.0) ++on_off_[f];
    hist_base_.add(f, b);
  }
  if (a > 0.0) {
    ++active_aligned_[f];
    if (b == 0.0) ++off_on_[f];
    hist_aligned_.add(f, a);
  }
}

void PairedFeatureAccumulator::merge(const PairedFeatureAccumulator& other) {
  if (other.d_sae_ != d_sae_) {
    throw InputError("paired feature accumulator: cannot merge d_sae " + std::to_string(other.d_sae_) + " into d_sae " +
                     std::to_string(d_sae_));
  }
  // The parts validate their own settings; check all of them before changing anything.
  if (!(other.hist_base_.bins().spec() == hist_base_.bins().spec())) {
    throw InputError("paired feature accumulator: cannot merge accumulators with different histogram specs");
  }
  if (!(other.sequences_.bootstrap() == sequences_.bootstrap())) {
    throw InputError("paired feature accumulator: cannot merge accumulators with different bootstrap options");
  }
  n_tokens_ += other.n_tokens_;
  active_base_ += other.active_base_;
  active_aligned_ += other.active_aligned_;
  on_off_ += other.on_off_;
  off_on_ += other.off_on_;
  sum_base_ += other.sum_base_;
  sum_aligned_ += other.sum_aligned_;
  sum_sq_base_ += other.sum_sq_base_;
  sum_sq_aligned_ += other.sum_sq_aligned_;
  sum_cross_ += other.sum_cross_;
  sum_abs_diff_ += other.sum_abs_diff_;
  max_base_ = max_base_.cwiseMax(other.max_base_);
  max_aligned_ = max_aligned_.cwiseMax(other.max_aligned_);
  hist_base_.merge(other.hist_base_);
  hist_aligned_.merge(other.hist_aligned_);
  sequences_.merge(other.sequences_);
}

FeatureDriftStats PairedFeatureAccumulator::finish(const Eigen::VectorXd* decoder_norms) const {
  if (decoder_norms != nullptr && decoder_norms->size() != d_sae_) {
    throw InputError("drift statistics: " + std::to_string(decoder_norms->size()) +
                     " decoder norms for an SAE with d_sae " + std::to_string(d_sae_));
  }
  FeatureDriftStats s;
  s.n_tokens = n_tokens_;
  s.n_sequences = sequences_.n_sequences();
  const Eigen::Index d = d_sae_;
  const Eigen::VectorXd nan = Eigen::VectorXd::Constant(d, kNaN);
  const double n = static_cast<double>(n_tokens_);
  const bool any = n_tokens_ > 0;

  const Eigen::VectorXd count_b = active_base_.cast<double>(), count_a = active_aligned_.cast<double>();
  s.freq_base = any ? Eigen::VectorXd(count_b / n) : nan;
  s.freq_aligned = any ? Eigen::VectorXd(count_a / n) : nan;
  s.log10_freq_base = (s.freq_base.array() + 1e-10).log10();
  s.log10_freq_aligned = (s.freq_aligned.array() + 1e-10).log10();
  s.dlog10_freq = ((s.freq_aligned.array() + 1e-10) / (s.freq_base.array() + 1e-10)).log10();
  s.mean_base = any ? Eigen::VectorXd(sum_base_ / n) : nan;
  s.mean_aligned = any ? Eigen::VectorXd(sum_aligned_ / n) : nan;
  s.delta_mean = s.mean_aligned - s.mean_base;
  // Activations are >= 0, so the sum over all tokens is the sum over the active ones.
  s.mean_active_base = (count_b.array() > 0).select(sum_base_.array() / count_b.array(), kNaN);
  s.mean_active_aligned = (count_a.array() > 0).select(sum_aligned_.array() / count_a.array(), kNaN);
  s.delta_mean_active = s.mean_active_aligned - s.mean_active_base;
  // Activations are >= 0 and a sparse row skips its zeros, so the max over all tokens is the
  // tracked max floored at 0.
  s.max_base = any ? Eigen::VectorXd(max_base_.cwiseMax(0.0)) : nan;
  s.max_aligned = any ? Eigen::VectorXd(max_aligned_.cwiseMax(0.0)) : nan;
  s.p99_base.resize(d);
  s.p99_aligned.resize(d);
  for (Eigen::Index f = 0; f < d; ++f) {
    s.p99_base[f] = hist_base_.quantile(f, 0.99);
    s.p99_aligned[f] = hist_aligned_.quantile(f, 0.99);
  }
  s.rel_delta_mean = (s.max_base.array() > 0).select(s.delta_mean.array() / s.max_base.array(), kNaN);
  s.delta_write = decoder_norms != nullptr ? Eigen::VectorXd(s.delta_mean.cwiseProduct(*decoder_norms)) : nan;
  s.mean_abs_paired_diff = any ? Eigen::VectorXd(sum_abs_diff_ / n) : nan;
  // Pearson from sums, scaled by n to avoid dividing twice: n Sxy - Sx Sy over
  // sqrt((n Sxx - Sx^2)(n Syy - Sy^2)). Sparse activations keep the cancellation mild.
  const Eigen::ArrayXd var_b = n * sum_sq_base_.array() - sum_base_.array().square();
  const Eigen::ArrayXd var_a = n * sum_sq_aligned_.array() - sum_aligned_.array().square();
  const Eigen::ArrayXd cov = n * sum_cross_.array() - sum_base_.array() * sum_aligned_.array();
  s.paired_corr = (var_b > 0 && var_a > 0).select((cov / (var_b * var_a).sqrt()).min(1.0).max(-1.0), kNaN);
  s.on_off_rate = any ? Eigen::VectorXd(on_off_.cast<double>() / n) : nan;
  s.off_on_rate = any ? Eigen::VectorXd(off_on_.cast<double>() / n) : nan;

  const SequenceEffects effects = sequences_.finish();
  s.effect_size = effects.effect_size;
  s.ci_low = effects.ci_low;
  s.ci_high = effects.ci_high;
  s.p_value = effects.p_value;
  s.q_value = benjamini_hochberg(s.p_value);
  s.n_sequences_with_tokens = Eigen::VectorXd::Constant(d, static_cast<double>(sequences_.n_sequences_with_tokens()));
  return s;
}

}  // namespace fpokit::analysis::stats
