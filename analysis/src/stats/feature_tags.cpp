#include "fpokit/analysis/stats/feature_tags.h"

#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

const std::vector<std::string_view>& feature_tag_names() {
  static const std::vector<std::string_view> names = {"up", "down", "emerged", "vanished", "unchanged", "dead"};
  return names;
}

std::string_view feature_tag_name(FeatureTag tag) { return feature_tag_names().at(static_cast<size_t>(tag)); }

FeatureTag tag_feature(double freq_base, double freq_aligned, double q_value, double effect_size, double alpha) {
  // `> 0` is false for NaN (no tokens), which then reads as never active.
  const bool base_active = freq_base > 0.0, aligned_active = freq_aligned > 0.0;
  if (!base_active && !aligned_active) return FeatureTag::Dead;
  if (!base_active) return FeatureTag::Emerged;
  if (!aligned_active) return FeatureTag::Vanished;
  if (q_value < alpha && effect_size > 0.0) return FeatureTag::Up;
  if (q_value < alpha && effect_size < 0.0) return FeatureTag::Down;
  return FeatureTag::Unchanged;
}

std::vector<FeatureTag> tag_features(const FeatureDriftStats& stats, double alpha) {
  if (!(alpha > 0.0 && alpha < 1.0))
    throw InputError("feature tags: alpha must be in (0, 1), got " + std::to_string(alpha));
  std::vector<FeatureTag> tags(static_cast<size_t>(stats.d_sae()));
  for (int64_t f = 0; f < stats.d_sae(); ++f) {
    tags[f] = tag_feature(stats.freq_base[f], stats.freq_aligned[f], stats.q_value[f], stats.effect_size[f], alpha);
  }
  return tags;
}

}  // namespace fpokit::analysis::stats
