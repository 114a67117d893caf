#pragma once
// A streaming, mergeable summary of one scalar per token, for the report's global statistics
// such as per-token KL(aligned || base) (docs/drift-statistics.md, 'Scalar summaries'): count,
// mean, sd (n - 1), exact min and max, and quantiles (p25 / p50 / p75 / p95 / p99 or any q).
//
// Mean and sd use Welford's update and Chan's merge (stable for large counts). Quantiles come from
// a signed log histogram: |x| on the log bins of log_histogram.h for each sign, plus an exact count
// of zeros. Why log bins: KL per token spans many decades (1e-6 on most tokens, > 1 on a few), and
// a log grid gives the same relative accuracy across all of them without knowing the range in
// advance. A quantile is within a factor 10^(1 / bins_per_decade) of the exact (type 7) one when
// the neighbouring order statistics have the same sign and |x| in [min_value, max_value] (12.2% at
// the default 20 bins per decade over 1e-8 .. 1e4); outside that range only the clamp to the exact
// observed extremes bounds it.
#include <cstdint>
#include <vector>

#include "fpokit/analysis/stats/log_histogram.h"

namespace fpokit::analysis::stats {

class ScalarSummary {
 public:
  static constexpr LogHistogramSpec kDefaultSpec{1e-8, 1e4, 20};

  explicit ScalarSummary(LogHistogramSpec spec = kDefaultSpec);

  // InputError for a non-finite value.
  void add(double x);
  void add(const float* values, int64_t n);
  void add(const double* values, int64_t n);
  // InputError when the specs differ.
  void merge(const ScalarSummary& other);

  int64_t count() const { return n_; }
  // NaN when empty (sd: with fewer than 2 values).
  double mean() const;
  double sd() const;
  double min() const;
  double max() const;
  // Type-7 q-quantile from the histogram (0 <= q <= 1); NaN when empty.
  double quantile(double q) const;

  struct Quantiles {
    double p25, p50, p75, p95, p99;
  };
  Quantiles quantiles() const;

  const LogHistogram& bins() const { return bins_; }

 private:
  double value_at_rank(int64_t rank) const;

  LogHistogram bins_;
  int64_t n_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;
  double min_;
  double max_;
  // Magnitudes of the positive and of the negative values, and the exact zeros.
  std::vector<int64_t> positive_, negative_;
  int64_t n_positive_ = 0, n_negative_ = 0, n_zero_ = 0;
  double min_positive_, max_positive_, min_negative_magnitude_, max_negative_magnitude_;
};

}  // namespace fpokit::analysis::stats
