#include "fpokit/analysis/drift/drift_batches.h"

#include <algorithm>
#include <utility>

namespace fpokit::analysis {

std::vector<DriftSplit> drift_splits(const std::string& data_kind) {
  if (data_kind == "text") return {{"all", {TokenGroup::Text}}};
  return {{"all", {TokenGroup::Prompt, TokenGroup::Chosen, TokenGroup::Rejected}},
          {"prompt", {TokenGroup::Prompt}},
          {"response", {TokenGroup::Chosen, TokenGroup::Rejected}},
          {"chosen", {TokenGroup::Chosen}},
          {"rejected", {TokenGroup::Rejected}}};
}

DriftBatch make_drift_batch(const DriftData& data, const std::vector<int64_t>& rows, int64_t stride,
                            const torch::Device& device) {
  DriftBatch b;
  b.sequence_index = rows;
  b.rows = static_cast<int64_t>(rows.size());
  for (const int64_t r : rows)
    b.length = std::max<int64_t>(b.length, static_cast<int64_t>(data.sequences[r].ids.size()));
  std::vector<int64_t> ids(b.rows * b.length, 0), mask(b.rows * b.length, 0);
  b.group.assign(b.rows * b.length, static_cast<uint8_t>(TokenGroup::Excluded));
  b.unit.assign(b.rows * b.length, 0);
  b.code.assign(b.rows * b.length, -1);
  bool padded = false;
  for (int64_t i = 0; i < b.rows; ++i) {
    const auto& s = data.sequences[rows[i]];
    const auto n = static_cast<int64_t>(s.ids.size());
    padded |= n < b.length;
    for (int64_t t = 0; t < b.length; ++t) {
      const int64_t k = i * b.length + t;
      b.unit[k] = s.unit;
      if (t >= n) continue;
      ids[k] = s.ids[t];
      mask[k] = 1;
      b.group[k] = static_cast<uint8_t>(s.groups[t]);
      b.code[k] = rows[i] * stride + t;
    }
  }
  b.ids = torch::tensor(ids, torch::kInt64).view({b.rows, b.length}).to(device);
  if (padded) b.attention_mask = torch::tensor(mask, torch::kInt64).view({b.rows, b.length}).to(device);
  return b;
}

std::vector<std::vector<int64_t>> plan_drift_batches(const DriftData& data, int64_t batch_size) {
  std::vector<std::vector<int64_t>> out;
  std::vector<int64_t> current;
  for (size_t i = 0; i < data.sequences.size(); ++i) {
    const bool unit_start = i == 0 || data.sequences[i].unit != data.sequences[i - 1].unit;
    if (unit_start && static_cast<int64_t>(current.size()) >= batch_size) out.push_back(std::exchange(current, {}));
    current.push_back(static_cast<int64_t>(i));
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

int64_t drift_code_stride(const DriftData& data) {
  int64_t stride = 1;
  for (const auto& s : data.sequences) stride = std::max<int64_t>(stride, static_cast<int64_t>(s.ids.size()));
  return stride;
}

std::vector<uint8_t> analysed_positions(const DriftBatch& b, PositionCounts& counts) {
  std::vector<uint8_t> analysed(static_cast<size_t>(b.positions()), 0);
  for (int64_t k = 0; k < b.positions(); ++k) {
    const auto g = static_cast<TokenGroup>(b.group[k]);
    if (g == TokenGroup::Excluded) {
      if (b.code[k] >= 0) ++counts.excluded_special;
    } else if (g == TokenGroup::PromptRepeat) {
      ++counts.excluded_repeat;
    } else {
      analysed[k] = 1;
    }
    if (b.code[k] >= 0) ++counts.positions;
  }
  return analysed;
}

std::optional<double> outlier_threshold(const std::vector<uint8_t>& analysed, const float* base_norms, double factor) {
  std::vector<float> v;
  for (size_t k = 0; k < analysed.size(); ++k)
    if (analysed[k]) v.push_back(base_norms[k]);
  if (v.empty()) return std::nullopt;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return factor * v[v.size() / 2];
}

}  // namespace fpokit::analysis
