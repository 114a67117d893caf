#pragma once
// Named rankings of features by a drift statistic, each with its metric, filter and k (the
// report's /rankings/<name>, docs/drift-schema.md):
//   abs_delta_write      |Δmean × ‖W_dec[f]‖|                  non-zero
//   abs_dlog10_freq      |log10 frequency ratio|                non-zero, max(freq_base, freq_aligned) ≥ 1e-5
//   abs_effect_size      |paired effect size over sequences|    q < alpha and material (is_material_shift)
//   lowest_paired_corr   paired correlation, ascending          active under both models
// and, for an FPO run, unconstrained_abs_delta_write and unconstrained_abs_effect_size over the
// features FPO's top-k never selected.
#include <cstdint>
#include <string>
#include <vector>

#include "fpokit/analysis/stats/feature_drift_stats.h"

namespace fpokit::analysis {

struct Ranking {
  std::string name;
  std::string metric;  // the column ranked by
  std::string filter;  // which features were eligible, in words
  bool descending = true;
  bool absolute = true;  // ranked by |metric|
  int64_t k = 0;         // requested length (the ranking may be shorter: fewer eligible features)
  std::vector<int32_t> features;
  std::vector<double> values;  // the metric (signed) of each ranked feature
};

// Whether feature f's mean moved by more than min_rel_delta × its largest activation under
// either model (DriftOptions::min_rel_delta: smaller shifts are float-rounding level).
bool is_material_shift(const stats::FeatureDriftStats& s, int64_t f, double min_rel_delta);

// The report's `tag` column (stats::FeatureTag codes): stats::tag_features, with up/down only for a
// material shift (is_material_shift), else unchanged.
std::vector<uint8_t> drift_tags(const stats::FeatureDriftStats& s, double alpha, double min_rel_delta);

// `constrained`: per feature whether FPO ever selected it (empty: not an FPO run).
std::vector<Ranking> compute_rankings(const stats::FeatureDriftStats& s, const std::vector<uint8_t>& constrained,
                                      int64_t k, double alpha, double min_rel_delta);

// The union of every ranking's first `head` features, in first-appearance order.
std::vector<int32_t> ranking_union(const std::vector<Ranking>& rankings, int64_t head);

}  // namespace fpokit::analysis
