#pragma once
// The per-feature columns of the drift report (docs/drift-statistics.md, 'Columns'), as produced
// by PairedFeatureAccumulator::finish(). Every column has length d_sae and is NaN where the
// statistic is undefined (never 0, which would read as a measurement). `columns()` describes every
// column (name, description, formula, units) with a pointer to it, so that a writer (the HDF5
// report, a CSV dump) iterates over one table instead of listing the members again.
#include <cstdint>
#include <string_view>
#include <vector>

#include <Eigen/Core>

namespace fpokit::analysis::stats {

struct FeatureDriftStats;

// One column: what a writer stores as the dataset's attributes.
struct FeatureDriftColumn {
  std::string_view name;
  std::string_view description;
  std::string_view formula;
  std::string_view units;  // "1", "activation", "log10 fraction", "sequences", "activation x decoder norm"
  Eigen::VectorXd FeatureDriftStats::*member;
};

struct FeatureDriftStats {
  int64_t n_tokens = 0;     // selected tokens: the denominator of freq_* and mean_*
  int64_t n_sequences = 0;  // sequences seen, including those with no selected token

  Eigen::VectorXd freq_base, freq_aligned;
  Eigen::VectorXd log10_freq_base, log10_freq_aligned, dlog10_freq;
  Eigen::VectorXd mean_base, mean_aligned, delta_mean;
  Eigen::VectorXd mean_active_base, mean_active_aligned, delta_mean_active;
  Eigen::VectorXd max_base, max_aligned, p99_base, p99_aligned;
  Eigen::VectorXd rel_delta_mean, delta_write;
  Eigen::VectorXd mean_abs_paired_diff, paired_corr, on_off_rate, off_on_rate;
  Eigen::VectorXd effect_size, ci_low, ci_high, p_value, q_value;
  Eigen::VectorXd n_sequences_with_tokens;

  int64_t d_sae() const { return freq_base.size(); }

  // Every column, in report order.
  static const std::vector<FeatureDriftColumn>& columns();
  static std::vector<std::string_view> column_names();
  // The column called `name`; InputError for an unknown name.
  const Eigen::VectorXd& column(std::string_view name) const;

  // f(const FeatureDriftColumn&, const Eigen::VectorXd&) for every column, in report order.
  template <class F>
  void for_each_column(F&& f) const {
    for (const FeatureDriftColumn& c : columns()) f(c, this->*c.member);
  }
};

}  // namespace fpokit::analysis::stats
