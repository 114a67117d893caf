#include "fpokit/analysis/stats/feature_histograms.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

FeatureHistograms::FeatureHistograms(int64_t d_sae, LogHistogramSpec spec)
    : d_sae_(d_sae), bins_(spec), n_active_(d_sae > 0 ? d_sae : 0, 0) {
  if (d_sae <= 0) throw InputError("feature histograms: d_sae must be positive, got " + std::to_string(d_sae));
  counts_.assign(static_cast<size_t>(d_sae * bins_.n_bins()), 0u);
  min_active_ = Eigen::VectorXd::Constant(d_sae, kInf);
  max_active_ = Eigen::VectorXd::Constant(d_sae, -kInf);
}

void FeatureHistograms::count(int64_t feature, double value) {
  uint32_t& c = counts_[static_cast<size_t>(feature * bins_.n_bins() + bins_.bin_of(value))];
  if (c == std::numeric_limits<uint32_t>::max()) {
    throw std::overflow_error("feature histograms: a uint32 bin count of feature " + std::to_string(feature) +
                              " overflows");
  }
  ++c;
  ++n_active_[feature];
  if (value < min_active_[feature]) min_active_[feature] = value;
  if (value > max_active_[feature]) max_active_[feature] = value;
}

void FeatureHistograms::add(int64_t feature, double value) {
  if (feature < 0 || feature >= d_sae_) {
    throw InputError("feature histograms: feature " + std::to_string(feature) + " is outside [0, " +
                     std::to_string(d_sae_) + ")");
  }
  if (!std::isfinite(value))
    throw InputError("feature histograms: non-finite value for feature " + std::to_string(feature));
  if (value > 0.0) count(feature, value);
}

void FeatureHistograms::add_row(const float* values) {
  // SAE activations are sparse: the branch skips most of the row.
  for (int64_t f = 0; f < d_sae_; ++f) {
    if (values[f] > 0.0f) count(f, values[f]);
  }
}

void FeatureHistograms::merge(const FeatureHistograms& other) {
  if (other.d_sae_ != d_sae_ || !(other.bins_.spec() == bins_.spec())) {
    throw InputError("feature histograms: cannot merge histograms with a different d_sae (" + std::to_string(d_sae_) +
                     " vs " + std::to_string(other.d_sae_) + ") or bin spec");
  }
  for (size_t i = 0; i < counts_.size(); ++i) {
    const uint64_t sum = static_cast<uint64_t>(counts_[i]) + other.counts_[i];
    if (sum > std::numeric_limits<uint32_t>::max())
      throw std::overflow_error("feature histograms: a merged uint32 bin count overflows");
    counts_[i] = static_cast<uint32_t>(sum);
  }
  for (int64_t f = 0; f < d_sae_; ++f) n_active_[f] += other.n_active_[f];
  min_active_ = min_active_.cwiseMin(other.min_active_);
  max_active_ = max_active_.cwiseMax(other.max_active_);
}

double FeatureHistograms::min_active(int64_t feature) const {
  return n_active_[feature] > 0 ? min_active_[feature] : kNaN;
}

double FeatureHistograms::max_active(int64_t feature) const {
  return n_active_[feature] > 0 ? max_active_[feature] : kNaN;
}

double FeatureHistograms::quantile(int64_t feature, double q) const {
  if (feature < 0 || feature >= d_sae_) {
    throw InputError("feature histograms: feature " + std::to_string(feature) + " is outside [0, " +
                     std::to_string(d_sae_) + ")");
  }
  return bins_.quantile(counts(feature), n_active_[feature], q, min_active_[feature], max_active_[feature]);
}

}  // namespace fpokit::analysis::stats
