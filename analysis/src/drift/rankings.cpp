#include "fpokit/analysis/drift/rankings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <unordered_set>

#include "fpokit/analysis/stats/feature_tags.h"

namespace fpokit::analysis {

namespace {

Ranking rank(std::string name, std::string metric, std::string filter, const Eigen::VectorXd& values, bool absolute,
             bool descending, int64_t k, const std::function<bool(int64_t)>& eligible) {
  Ranking r{std::move(name), std::move(metric), std::move(filter), descending, absolute, k, {}, {}};
  std::vector<int32_t> ids;
  for (int64_t f = 0; f < values.size(); ++f)
    if (std::isfinite(values[f]) && eligible(f)) ids.push_back(static_cast<int32_t>(f));
  auto key = [&](int32_t f) { return absolute ? std::abs(values[f]) : values[f]; };
  // Ties broken by feature id so the ranking is deterministic.
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    const double ka = key(a), kb = key(b);
    if (ka != kb) return descending ? ka > kb : ka < kb;
    return a < b;
  });
  if (static_cast<int64_t>(ids.size()) > k) ids.resize(static_cast<size_t>(k));
  r.features = ids;
  for (const int32_t f : ids) r.values.push_back(values[f]);
  return r;
}

}  // namespace

bool is_material_shift(const stats::FeatureDriftStats& s, int64_t f, double min_rel_delta) {
  const double scale = std::max(s.max_base[f], s.max_aligned[f]);
  return std::isfinite(scale) && scale > 0 && std::abs(s.delta_mean[f]) > min_rel_delta * scale;
}

std::vector<uint8_t> drift_tags(const stats::FeatureDriftStats& s, double alpha, double min_rel_delta) {
  std::vector<uint8_t> tags;
  int64_t f = 0;
  for (auto t : stats::tag_features(s, alpha)) {
    if ((t == stats::FeatureTag::Up || t == stats::FeatureTag::Down) && !is_material_shift(s, f, min_rel_delta))
      t = stats::FeatureTag::Unchanged;
    tags.push_back(static_cast<uint8_t>(t));
    ++f;
  }
  return tags;
}

std::vector<Ranking> compute_rankings(const stats::FeatureDriftStats& s, const std::vector<uint8_t>& constrained,
                                      int64_t k, double alpha, double min_rel_delta) {
  auto writes_change = [&](int64_t f) { return s.delta_write[f] != 0; };
  auto not_rare = [&](int64_t f) {
    return s.dlog10_freq[f] != 0 && std::max(s.freq_base[f], s.freq_aligned[f]) >= 1e-5;
  };
  auto significant = [&](int64_t f) {
    return std::isfinite(s.q_value[f]) && s.q_value[f] < alpha && is_material_shift(s, f, min_rel_delta);
  };
  auto both_active = [&](int64_t f) { return s.freq_base[f] > 0 && s.freq_aligned[f] > 0; };
  char q_text[160];
  std::snprintf(q_text, sizeof q_text, "q_value < %g and |delta_mean| > %g * max(max_base, max_aligned)", alpha,
                min_rel_delta);
  const std::string q_filter = q_text;
  std::vector<Ranking> out;
  out.push_back(rank("abs_delta_write", "delta_write", "non-zero", s.delta_write, true, true, k, writes_change));
  out.push_back(rank("abs_dlog10_freq", "dlog10_freq", "non-zero, max(freq_base, freq_aligned) >= 1e-5", s.dlog10_freq,
                     true, true, k, not_rare));
  out.push_back(rank("abs_effect_size", "effect_size", q_filter, s.effect_size, true, true, k, significant));
  out.push_back(rank("lowest_paired_corr", "paired_corr", "freq_base > 0 and freq_aligned > 0", s.paired_corr, false,
                     false, k, both_active));
  if (!constrained.empty()) {
    auto free = [&](int64_t f) { return constrained[static_cast<size_t>(f)] == 0; };
    out.push_back(rank("unconstrained_abs_delta_write", "delta_write", "non-zero, never in FPO's top-k", s.delta_write,
                       true, true, k, [&](int64_t f) { return free(f) && writes_change(f); }));
    out.push_back(rank("unconstrained_abs_effect_size", "effect_size", "never in FPO's top-k and " + q_filter,
                       s.effect_size, true, true, k, [&](int64_t f) { return free(f) && significant(f); }));
  }
  return out;
}

std::vector<int32_t> ranking_union(const std::vector<Ranking>& rankings, int64_t head) {
  std::vector<int32_t> out;
  std::unordered_set<int32_t> seen;
  for (const auto& r : rankings)
    for (int64_t i = 0; i < std::min<int64_t>(head, static_cast<int64_t>(r.features.size())); ++i)
      if (seen.insert(r.features[static_cast<size_t>(i)]).second) out.push_back(r.features[static_cast<size_t>(i)]);
  return out;
}

}  // namespace fpokit::analysis
