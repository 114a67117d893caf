#pragma once
// The settings of one `fpokit drift` run (docs/drift.md). Every field is a CLI option of the same
// name (underscores as dashes) and is recorded in the report's /provenance/config_toml.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fpokit/fpo/data/preference_fields.h"

namespace fpokit::analysis {

struct DriftOptions {
  std::filesystem::path base;                  // HF model directory
  std::vector<std::filesystem::path> aligned;  // HF dir, train output folder, adapter or checkpoint folder
  std::vector<std::string> labels;             // one per aligned model; default from the folder names
  std::filesystem::path sae;                   // SAELens/fpokit folder, sparsify folder or Gemma Scope params.npz
  std::filesystem::path data;                  // text corpus (.jsonl/.txt) or preference file (.jsonl)
  std::filesystem::path out;                   // report.h5
  std::string hook;                            // default: the SAE's own
  std::string data_kind = "auto";              // auto | text | preference
  std::string text_field = "text";
  std::string split;                   // a dataset folder's split (--split); empty for a file
  fpo::PreferenceFields fields;        // preference data: --prompt-field, --chosen-field, --rejected-field
  std::string chat_template = "auto";  // preference data: as fpokit train
  int64_t tokens = 65536;              // tokens to analyse (whole sequences; stop once reached)
  int64_t context_size = 128;          // text corpus: tokens per context row
  int64_t max_length = 512;            // preference data: prompt + completion
  int64_t batch_size = 8;              // sequences per forward
  std::string device = "cpu";
  std::string dtype = "auto";
  int64_t top = 50;             // features per ranking
  int64_t examples = 10;        // max-activating contexts per selected feature and model
  int64_t example_window = 12;  // tokens each side of the highlighted position
  int64_t logit_lens_k = 10;    // promoted and suppressed tokens per feature
  int64_t bootstrap = 200;      // bootstrap replicates over sequences (0: no CIs)
  uint64_t seed = 0;
  double alpha = 0.05;  // q threshold for "significant" (tags, effect ranking)
  // A shift smaller than this fraction of the feature's largest activation is not material, however
  // small its q-value: float rounding in the forward passes shifts every feature by a tiny,
  // consistently signed amount that a paired test over many sequences calls significant.
  double min_rel_delta = 1e-4;
  double outlier_factor = 10.0;    // a position whose base residual norm exceeds this × median is an outlier
  int64_t fidelity_tokens = 8192;  // tokens on which CE with the SAE spliced in is measured
  // Causal check (causal_check.h): the first `causal` features of every ranking and as many
  // controls, on the first `causal_pairs` pairs of `causal_data` (default: `data`, when it is
  // preference data).
  int64_t causal = 0;
  std::filesystem::path causal_data;
  int64_t causal_pairs = 64;
  bool force = false;  // replace an existing report
};

}  // namespace fpokit::analysis
