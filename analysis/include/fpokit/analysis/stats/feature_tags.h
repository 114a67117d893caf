#pragma once
// The drift report's categorical `tag` per feature (docs/drift-statistics.md, 'Tags'), for
// filtering in pandas and the HTML view. Rules, first match wins:
//   dead      never active under either model (freq_base = freq_aligned = 0);
//   emerged   never active under the base model, active under the aligned one;
//   vanished  active under the base model, never under the aligned one;
//   up/down   q_value < alpha and effect_size > 0 / < 0;
//   unchanged everything else (including features without a test: q = NaN).
// The codes are the enum values (int8, the HDF5 categorical's `codes`); feature_tag_names() is the
// matching `categories` array.
#include <cstdint>
#include <string_view>
#include <vector>

#include "fpokit/analysis/stats/feature_drift_stats.h"

namespace fpokit::analysis::stats {

enum class FeatureTag : int8_t { Up = 0, Down = 1, Emerged = 2, Vanished = 3, Unchanged = 4, Dead = 5 };

std::string_view feature_tag_name(FeatureTag tag);
// All names, indexed by code: "up", "down", "emerged", "vanished", "unchanged", "dead".
const std::vector<std::string_view>& feature_tag_names();

FeatureTag tag_feature(double freq_base, double freq_aligned, double q_value, double effect_size, double alpha = 0.05);
// One tag per feature; InputError unless 0 < alpha < 1.
std::vector<FeatureTag> tag_features(const FeatureDriftStats& stats, double alpha = 0.05);

}  // namespace fpokit::analysis::stats
