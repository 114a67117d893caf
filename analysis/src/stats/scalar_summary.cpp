#include "fpokit/analysis/stats/scalar_summary.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

ScalarSummary::ScalarSummary(LogHistogramSpec spec)
    : bins_(spec),
      min_(kInf),
      max_(-kInf),
      positive_(static_cast<size_t>(bins_.n_bins()), 0),
      negative_(static_cast<size_t>(bins_.n_bins()), 0),
      min_positive_(kInf),
      max_positive_(-kInf),
      min_negative_magnitude_(kInf),
      max_negative_magnitude_(-kInf) {}

void ScalarSummary::add(double x) {
  if (!std::isfinite(x)) throw InputError("scalar summary: non-finite value " + std::to_string(x));
  ++n_;
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (x - mean_);
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
  if (x > 0.0) {
    ++positive_[static_cast<size_t>(bins_.bin_of(x))];
    ++n_positive_;
    min_positive_ = std::min(min_positive_, x);
    max_positive_ = std::max(max_positive_, x);
  } else if (x < 0.0) {
    ++negative_[static_cast<size_t>(bins_.bin_of(-x))];
    ++n_negative_;
    min_negative_magnitude_ = std::min(min_negative_magnitude_, -x);
    max_negative_magnitude_ = std::max(max_negative_magnitude_, -x);
  } else {
    ++n_zero_;
  }
}

void ScalarSummary::add(const float* values, int64_t n) {
  for (int64_t i = 0; i < n; ++i) add(static_cast<double>(values[i]));
}

void ScalarSummary::add(const double* values, int64_t n) {
  for (int64_t i = 0; i < n; ++i) add(values[i]);
}

void ScalarSummary::merge(const ScalarSummary& other) {
  if (!(other.bins_.spec() == bins_.spec()))
    throw InputError("scalar summary: cannot merge summaries with different bin specs");
  if (other.n_ == 0) return;
  if (n_ == 0) {
    *this = other;
    return;
  }
  const double n1 = static_cast<double>(n_), n2 = static_cast<double>(other.n_), n = n1 + n2;
  const double delta = other.mean_ - mean_;
  mean_ += delta * (n2 / n);
  m2_ += other.m2_ + delta * delta * (n1 * n2 / n);
  n_ += other.n_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  for (size_t i = 0; i < positive_.size(); ++i) {
    positive_[i] += other.positive_[i];
    negative_[i] += other.negative_[i];
  }
  n_positive_ += other.n_positive_;
  n_negative_ += other.n_negative_;
  n_zero_ += other.n_zero_;
  min_positive_ = std::min(min_positive_, other.min_positive_);
  max_positive_ = std::max(max_positive_, other.max_positive_);
  min_negative_magnitude_ = std::min(min_negative_magnitude_, other.min_negative_magnitude_);
  max_negative_magnitude_ = std::max(max_negative_magnitude_, other.max_negative_magnitude_);
}

double ScalarSummary::mean() const { return n_ > 0 ? mean_ : kNaN; }
double ScalarSummary::sd() const { return n_ > 1 ? std::sqrt(std::max(0.0, m2_) / static_cast<double>(n_ - 1)) : kNaN; }
double ScalarSummary::min() const { return n_ > 0 ? min_ : kNaN; }
double ScalarSummary::max() const { return n_ > 0 ? max_ : kNaN; }

// Sorted order: negatives (largest magnitude first), zeros, positives.
double ScalarSummary::value_at_rank(int64_t rank) const {
  if (rank < n_negative_) {
    return -bins_.value_at_rank(negative_.data(), n_negative_, n_negative_ - 1 - rank, min_negative_magnitude_,
                                max_negative_magnitude_);
  }
  rank -= n_negative_;
  if (rank < n_zero_) return 0.0;
  rank -= n_zero_;
  return bins_.value_at_rank(positive_.data(), n_positive_, rank, min_positive_, max_positive_);
}

double ScalarSummary::quantile(double q) const {
  if (!(q >= 0.0 && q <= 1.0))
    throw InputError("scalar summary: quantile level must be in [0, 1], got " + std::to_string(q));
  if (n_ == 0) return kNaN;
  const double r = q * static_cast<double>(n_ - 1);
  const auto k = static_cast<int64_t>(std::floor(r));
  const double g = r - static_cast<double>(k);
  const double lo = value_at_rank(k);
  if (g == 0.0) return lo;
  return (1.0 - g) * lo + g * value_at_rank(k + 1);
}

ScalarSummary::Quantiles ScalarSummary::quantiles() const {
  return {quantile(0.25), quantile(0.5), quantile(0.75), quantile(0.95), quantile(0.99)};
}

}  // namespace fpokit::analysis::stats
