#include "fpokit/analysis/stats/log_histogram.h"

#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

void LogHistogramSpec::validate() const {
  if (!(min_value > 0.0) || !(max_value > min_value) || !std::isfinite(max_value)) {
    throw InputError("log histogram: need 0 < min_value < max_value (finite), got min_value " +
                     std::to_string(min_value) + ", max_value " + std::to_string(max_value));
  }
  if (bins_per_decade < 1 || bins_per_decade > 1000) {
    throw InputError("log histogram: bins_per_decade must be in [1, 1000], got " + std::to_string(bins_per_decade));
  }
}

LogHistogram::LogHistogram(LogHistogramSpec spec) : spec_(spec) {
  spec_.validate();
  // The small slack keeps an exact decade count (1e-6 .. 1e4 -> 10 decades -> 200 bins) from
  // gaining a bin through log10 rounding.
  const double decades = std::log10(spec_.max_value / spec_.min_value);
  const auto n = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(decades * spec_.bins_per_decade - 1e-9)));
  edges_.resize(n + 1);
  for (int64_t i = 0; i <= n; ++i)
    edges_[i] = spec_.min_value * std::pow(10.0, static_cast<double>(i) / spec_.bins_per_decade);
  ratio_ = std::pow(10.0, 1.0 / spec_.bins_per_decade);
}

int64_t LogHistogram::bin_of(double value) const {
  const int64_t last = n_bins() - 1;
  if (value < edges_[1]) return 0;         // includes everything below min_value
  if (value >= edges_[last]) return last;  // includes everything above max_value
  auto i = static_cast<int64_t>(std::floor(std::log10(value / spec_.min_value) * spec_.bins_per_decade));
  i = std::min(std::max<int64_t>(i, 0), last);
  // log10 may round a value next to an edge into the neighbouring bin; the edges decide.
  while (i > 0 && value < edges_[i]) --i;
  while (i < last && value >= edges_[i + 1]) ++i;
  return i;
}

void LogHistogram::check_quantile_level(double q) {
  if (!(q >= 0.0 && q <= 1.0)) throw InputError("quantile level must be in [0, 1], got " + std::to_string(q));
}

}  // namespace fpokit::analysis::stats
