#pragma once
// Fixed log-spaced histogram bins for activation magnitudes, and quantiles read back from counts
// (docs/drift-statistics.md, 'Histograms and quantiles').
//
// Why fixed edges: two histograms with the same spec merge by adding counts, so the statistics
// stay streaming and mergeable; a data-dependent range would need a first pass over the data.
//
// Edges: e_i = min_value * 10^(i / bins_per_decade), i = 0..n_bins, with n_bins the smallest
// number of bins whose last edge reaches max_value. A value below min_value is counted in the
// first bin, a value above max_value in the last; values <= 0 are not counted (the histograms are
// of active activations).
//
// Error bound: a quantile is interpolated geometrically inside the bin that holds the exact order
// statistic and clamped to the exact observed [min, max], so for values inside
// [min_value, max_value] the estimate is within a factor rho = 10^(1 / bins_per_decade) of the
// exact (linearly interpolated, "type 7") quantile: 12.2% at the default 20 bins per decade.
// Below min_value / above max_value only the clamp to the observed extremes bounds it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace fpokit::analysis::stats {

struct LogHistogramSpec {
  double min_value = 1e-6;
  double max_value = 1e4;
  int bins_per_decade = 20;

  // InputError unless 0 < min_value < max_value (finite) and 1 <= bins_per_decade <= 1000.
  void validate() const;
  bool operator==(const LogHistogramSpec&) const = default;
};

class LogHistogram {
 public:
  explicit LogHistogram(LogHistogramSpec spec = {});

  const LogHistogramSpec& spec() const { return spec_; }
  int64_t n_bins() const { return static_cast<int64_t>(edges_.size()) - 1; }
  // n_bins + 1 increasing edges; bin i is [edges[i], edges[i+1]).
  const std::vector<double>& edges() const { return edges_; }
  // rho = 10^(1 / bins_per_decade): the ratio of consecutive edges and the quantile error bound.
  double bin_ratio() const { return ratio_; }

  // The bin of a value > 0 (exact at the edges: log10 rounding is corrected against edges()).
  int64_t bin_of(double value) const;

  // The order statistic of 0-based rank `rank` among the `total` values counted in `counts`
  // (n_bins entries): rank 0 is min_observed and rank total-1 max_observed exactly; otherwise the
  // rank's bin [e_i, e_i+1) holding c values of which it is the j-th gives e_i * rho^((j + 0.5) / c),
  // clamped to [min_observed, max_observed].
  template <class Count>
  double value_at_rank(const Count* counts, int64_t total, int64_t rank, double min_observed,
                       double max_observed) const;

  // The q-quantile (0 <= q <= 1; InputError otherwise) with the type-7 definition: rank
  // r = q (total - 1) interpolated linearly between ranks floor(r) and floor(r) + 1. NaN when
  // total == 0.
  template <class Count>
  double quantile(const Count* counts, int64_t total, double q, double min_observed, double max_observed) const;

 private:
  static void check_quantile_level(double q);

  LogHistogramSpec spec_;
  std::vector<double> edges_;
  double ratio_;
};

template <class Count>
double LogHistogram::value_at_rank(const Count* counts, int64_t total, int64_t rank, double min_observed,
                                   double max_observed) const {
  if (rank <= 0) return min_observed;
  if (rank >= total - 1) return max_observed;
  int64_t before = 0;
  for (int64_t i = 0; i < n_bins(); ++i) {
    const auto c = static_cast<int64_t>(counts[i]);
    if (rank < before + c) {
      const double frac = (static_cast<double>(rank - before) + 0.5) / static_cast<double>(c);
      const double v = edges_[i] * std::pow(ratio_, frac);
      return std::min(std::max(v, min_observed), max_observed);
    }
    before += c;
  }
  return max_observed;  // counts sum to less than total: only reachable with inconsistent input
}

template <class Count>
double LogHistogram::quantile(const Count* counts, int64_t total, double q, double min_observed,
                              double max_observed) const {
  check_quantile_level(q);
  if (total <= 0) return std::numeric_limits<double>::quiet_NaN();
  const double r = q * static_cast<double>(total - 1);
  const auto k = static_cast<int64_t>(std::floor(r));
  const double g = r - static_cast<double>(k);
  const double lo = value_at_rank(counts, total, k, min_observed, max_observed);
  if (g == 0.0) return lo;
  const double hi = value_at_rank(counts, total, k + 1, min_observed, max_observed);
  return (1.0 - g) * lo + g * hi;
}

}  // namespace fpokit::analysis::stats
