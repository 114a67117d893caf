#pragma once
// Per-feature histograms of active (> 0) SAE activations on shared log-spaced bins
// (log_histogram.h), with each feature's exact smallest and largest active value, for the p99
// columns of the drift report (docs/drift-statistics.md, 'Histograms and quantiles').
//
// Counts are uint32, [d_sae, n_bins] row-major, as the report's HDF5 layout stores them; memory is
// 4 * d_sae * n_bins bytes (13 MB at d_sae 16384 and the default 200 bins). A bin that would pass
// 2^32 - 1 throws std::overflow_error rather than wrap.
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "fpokit/analysis/stats/log_histogram.h"

namespace fpokit::analysis::stats {

class FeatureHistograms {
 public:
  FeatureHistograms(int64_t d_sae, LogHistogramSpec spec = {});

  int64_t d_sae() const { return d_sae_; }
  const LogHistogram& bins() const { return bins_; }

  // Counts `value` for `feature` when value > 0. InputError for a feature outside [0, d_sae) or a
  // non-finite value.
  void add(int64_t feature, double value);
  // Bulk form: one token's d_sae activations (already checked finite by the caller).
  void add_row(const float* values);
  // Adds the other's counts; InputError when d_sae or the spec differ.
  void merge(const FeatureHistograms& other);

  // The feature's n_bins counts.
  const uint32_t* counts(int64_t feature) const { return counts_.data() + feature * bins_.n_bins(); }
  int64_t n_active(int64_t feature) const { return n_active_[feature]; }
  // Exact extremes of the active values; NaN when the feature was never active.
  double min_active(int64_t feature) const;
  double max_active(int64_t feature) const;
  // q-quantile of the feature's active values (LogHistogram::quantile: within a factor
  // bins().bin_ratio() of the exact one); NaN when never active.
  double quantile(int64_t feature, double q) const;

 private:
  void count(int64_t feature, double value);

  int64_t d_sae_;
  LogHistogram bins_;
  std::vector<uint32_t> counts_;
  std::vector<int64_t> n_active_;
  Eigen::VectorXd min_active_;  // +inf until the first active value
  Eigen::VectorXd max_active_;  // -inf until the first active value
};

}  // namespace fpokit::analysis::stats
