#include "fpokit/analysis/stats/sequence_effect_accumulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "fpokit/analysis/stats/student_t.h"
#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Cohen's d_z from a mean and an sd, with the zero-sd conventions of the header.
double effect_from(double mean, double sd) {
  if (sd > 0.0) return mean / sd;
  if (mean == 0.0) return 0.0;
  return mean > 0.0 ? kInf : -kInf;
}

// Type-7 percentile of sorted values (linear between order statistics). Between an infinite and
// another value the nearer order statistic is taken, since inf - x interpolates to NaN or inf.
double percentile_sorted(const std::vector<double>& v, double level) {
  const double r = level * static_cast<double>(v.size() - 1);
  const auto k = static_cast<size_t>(std::floor(r));
  const double g = r - static_cast<double>(k);
  if (g == 0.0 || k + 1 >= v.size()) return v[k];
  const double lo = v[k], hi = v[k + 1];
  if (lo == hi) return lo;
  if (std::isinf(lo) || std::isinf(hi)) return g < 0.5 ? lo : hi;
  return (1.0 - g) * lo + g * hi;
}

}  // namespace

SequenceEffectAccumulator::SequenceEffectAccumulator(int64_t d_sae, BootstrapOptions bootstrap)
    : d_sae_(d_sae), bootstrap_(bootstrap) {
  if (d_sae <= 0) throw InputError("sequence effects: d_sae must be positive, got " + std::to_string(d_sae));
  bootstrap_.validate();
  const int B = bootstrap_.replicates;
  mean_ = Eigen::VectorXd::Zero(d_sae);
  m2_ = Eigen::VectorXd::Zero(d_sae);
  weights_ = Eigen::VectorXd::Zero(B);
  boot_weight_sum_ = Eigen::VectorXd::Zero(B);
  boot_sum_ = Eigen::MatrixXd::Zero(B, d_sae);
  boot_sum_sq_ = Eigen::MatrixXd::Zero(B, d_sae);
}

void SequenceEffectAccumulator::check_continuation(const std::vector<SequenceRun>& runs) const {
  if (!runs.empty() && last_sequence_id_ && *last_sequence_id_ == runs.front().sequence_id) {
    throw InputError("activation batch: sequence " + std::to_string(runs.front().sequence_id) +
                     " continues from the previous batch; a sequence must lie within one batch");
  }
}

void SequenceEffectAccumulator::add(const ActivationBatch& batch) {
  const auto runs = validate_batch(batch, d_sae_);
  check_continuation(runs);
  for (int64_t t = 0; t < batch.n_tokens; ++t) {
    if (batch.mask != nullptr && batch.mask[t] == 0) continue;
    check_activation_row(batch.base + t * d_sae_, d_sae_, t, "base");
    check_activation_row(batch.aligned + t * d_sae_, d_sae_, t, "aligned");
  }
  Eigen::VectorXd diff_sum(d_sae_);
  for (const SequenceRun& run : runs) {
    diff_sum.setZero();
    int64_t n_selected = 0;
    for (int64_t t = run.begin; t < run.end; ++t) {
      if (batch.mask != nullptr && batch.mask[t] == 0) continue;
      const Eigen::Map<const Eigen::VectorXf> b(batch.base + t * d_sae_, d_sae_);
      const Eigen::Map<const Eigen::VectorXf> a(batch.aligned + t * d_sae_, d_sae_);
      diff_sum += a.cast<double>() - b.cast<double>();
      ++n_selected;
    }
    add_sequence(run.sequence_id, n_selected, diff_sum);
  }
}

void SequenceEffectAccumulator::add_sequence(int64_t sequence_id, int64_t n_selected,
                                             const Eigen::Ref<const Eigen::VectorXd>& diff_sum) {
  if (diff_sum.size() != d_sae_) {
    throw InputError("sequence effects: diff_sum has " + std::to_string(diff_sum.size()) + " entries, expected d_sae " +
                     std::to_string(d_sae_));
  }
  if (n_selected < 0)
    throw InputError("sequence effects: negative token count for sequence " + std::to_string(sequence_id));
  if (last_sequence_id_ && *last_sequence_id_ == sequence_id) {
    throw InputError("sequence effects: sequence " + std::to_string(sequence_id) +
                     " was added twice in a row; a sequence must lie within one batch");
  }
  last_sequence_id_ = sequence_id;
  ++n_seen_;
  if (n_selected == 0) return;

  const Eigen::VectorXd d = diff_sum / static_cast<double>(n_selected);
  ++n_used_;
  const Eigen::VectorXd delta = d - mean_;
  mean_ += delta / static_cast<double>(n_used_);
  m2_ += delta.cwiseProduct(d - mean_);

  if (bootstrap_.replicates == 0) return;
  poisson_bootstrap_weights(bootstrap_.seed, sequence_id, weights_);
  boot_weight_sum_ += weights_;
  for (int64_t f = 0; f < d_sae_; ++f) {
    const double x = d[f];
    if (x == 0.0) continue;  // adds exactly 0 to both sums
    boot_sum_.col(f) += x * weights_;
    boot_sum_sq_.col(f) += (x * x) * weights_;
  }
}

void SequenceEffectAccumulator::merge(const SequenceEffectAccumulator& other) {
  if (other.d_sae_ != d_sae_ || !(other.bootstrap_ == bootstrap_)) {
    throw InputError("sequence effects: cannot merge accumulators with a different d_sae (" + std::to_string(d_sae_) +
                     " vs " + std::to_string(other.d_sae_) + ") or bootstrap options (replicates, seed, confidence)");
  }
  if (other.n_used_ > 0) {
    if (n_used_ == 0) {
      mean_ = other.mean_;
      m2_ = other.m2_;
    } else {
      // Chan, Golub, LeVeque: the pooled mean and sum of squared deviations.
      const double n1 = static_cast<double>(n_used_), n2 = static_cast<double>(other.n_used_), n = n1 + n2;
      const Eigen::VectorXd delta = other.mean_ - mean_;
      mean_ += delta * (n2 / n);
      m2_ += other.m2_ + delta.cwiseProduct(delta) * (n1 * n2 / n);
    }
  }
  n_used_ += other.n_used_;
  n_seen_ += other.n_seen_;
  boot_weight_sum_ += other.boot_weight_sum_;
  boot_sum_ += other.boot_sum_;
  boot_sum_sq_ += other.boot_sum_sq_;
  last_sequence_id_.reset();
}

SequenceEffects SequenceEffectAccumulator::finish() const {
  SequenceEffects out;
  const Eigen::VectorXd nan = Eigen::VectorXd::Constant(d_sae_, kNaN);
  out.mean_diff = n_used_ > 0 ? mean_ : nan;
  out.sd_diff = nan;
  out.effect_size = nan;
  out.ci_low = nan;
  out.ci_high = nan;
  out.p_value = nan;
  if (n_used_ < 2) return out;

  const double n = static_cast<double>(n_used_);
  for (int64_t f = 0; f < d_sae_; ++f) {
    const double sd = std::sqrt(std::max(0.0, m2_[f]) / (n - 1.0));
    out.sd_diff[f] = sd;
    out.effect_size[f] = effect_from(mean_[f], sd);
    if (sd > 0.0) {
      out.p_value[f] = student_t_two_sided_p(out.effect_size[f] * std::sqrt(n), n - 1.0);
    } else {
      out.p_value[f] = mean_[f] == 0.0 ? 1.0 : 0.0;
    }
  }

  const int B = bootstrap_.replicates;
  if (B == 0) return out;
  const double lo_level = 0.5 * (1.0 - bootstrap_.confidence), hi_level = 0.5 * (1.0 + bootstrap_.confidence);
  std::vector<double> replicate;
  replicate.reserve(static_cast<size_t>(B));
  for (int64_t f = 0; f < d_sae_; ++f) {
    replicate.clear();
    for (int r = 0; r < B; ++r) {
      const double w = boot_weight_sum_[r];
      if (w < 2.0) continue;  // a replicate that drew fewer than 2 sequences has no sd
      const double s1 = boot_sum_(r, f), s2 = boot_sum_sq_(r, f);
      const double mean = s1 / w;
      double ss = s2 - s1 * mean;
      // Power sums cancel when |mean| >> sd: a sum of squared deviations below the rounding
      // noise of s2 is taken as exactly 0 (sd/rms < 1e-6, effectively an infinite effect).
      if (ss <= 1e-12 * s2) ss = 0.0;
      replicate.push_back(effect_from(mean, std::sqrt(ss / (w - 1.0))));
    }
    if (replicate.empty()) continue;
    std::sort(replicate.begin(), replicate.end());
    out.ci_low[f] = percentile_sorted(replicate, lo_level);
    out.ci_high[f] = percentile_sorted(replicate, hi_level);
  }
  return out;
}

}  // namespace fpokit::analysis::stats
