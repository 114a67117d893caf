#pragma once
// How a drift pass walks its token sequences (drift_data.h): batches of whole bootstrap units,
// right-padded, and which positions of a batch are analysed. `fpokit drift` and the training
// timeline (drift_timeline_recorder.h) share these, so that a timeline snapshot of a model and a
// drift report on the same model and tokens see the same positions.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fpokit/analysis/drift/drift_data.h"

namespace fpokit::analysis {

// The splits of a data kind, each a set of token groups: text data has "all"; preference data has
// all, prompt, response, chosen, rejected.
struct DriftSplit {
  const char* name;
  std::vector<TokenGroup> groups;
};
std::vector<DriftSplit> drift_splits(const std::string& data_kind);

// A batch of whole units, right-padded.
struct DriftBatch {
  std::vector<int64_t> sequence_index;  // into DriftData::sequences, per row
  torch::Tensor ids, attention_mask;    // [B, L] on the device; mask undefined when no padding
  std::vector<uint8_t> group;           // [B*L] TokenGroup, padding = Excluded
  std::vector<int64_t> unit;            // [B*L]
  std::vector<int64_t> code;            // [B*L] sequence_index * stride + position, -1 for padding
  int64_t rows = 0, length = 0;
  int64_t positions() const { return rows * length; }
};

DriftBatch make_drift_batch(const DriftData& data, const std::vector<int64_t>& rows, int64_t stride,
                            const torch::Device& device);

// Rows of whole units, about batch_size sequences per batch.
std::vector<std::vector<int64_t>> plan_drift_batches(const DriftData& data, int64_t batch_size);

// The longest sequence: the stride of DriftBatch::code.
int64_t drift_code_stride(const DriftData& data);

// Positions a pass analyses before outliers are removed: not Excluded (special tokens, padding)
// and not PromptRepeat (the rejected sequence's copy of the prompt). Counts what it leaves out.
struct PositionCounts {
  int64_t positions = 0, excluded_special = 0, excluded_repeat = 0;
};
std::vector<uint8_t> analysed_positions(const DriftBatch& batch, PositionCounts& counts);

// The outlier threshold: factor × the median base residual norm over the analysed positions of the
// first batch that has any; nullopt when `analysed` has none.
std::optional<double> outlier_threshold(const std::vector<uint8_t>& analysed, const float* base_norms, double factor);

}  // namespace fpokit::analysis
