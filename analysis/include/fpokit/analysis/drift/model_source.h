#pragma once
// What `--base` and `--aligned` may name, and how each becomes a model:
//   an HF model directory (config.json)               -> loaded as is;
//   a `fpokit train` output folder                    -> its model/ when present, else its adapter/
//                                                        applied to the base;
//   a PEFT LoRA adapter folder (adapter_config.json)  -> applied to the base;
//   a checkpoint folder of a run (trainer_state.json + policy.safetensors, or the run folder's
//     checkpoint/ when the run has no final model)    -> the base with the checkpoint's weights
//     (full weights by HF name; LoRA checkpoints with the run's config.toml LoRA settings).
// A train output folder of an FPO run also yields its fpo_selection.json (which features FPO's
// top-k constrained, and how often).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/load_model.h"

namespace fpokit::analysis {

// fpo_selection.json as `fpokit train --method fpo` writes it.
struct FpoSelectionRecord {
  std::filesystem::path file;
  std::string sae;
  std::string hook;
  int64_t top_k = 0;
  std::string variant;
  int64_t selections = 0;       // top-k selections counted (two per training pair and step: chosen, rejected)
  std::vector<int64_t> counts;  // per feature, how many of those selections included it
};

struct ModelSource {
  std::filesystem::path path;     // as given
  std::string kind;               // "model", "train_output", "adapter", "checkpoint"
  std::filesystem::path weights;  // the folder or file the weights came from
  std::optional<int64_t> checkpoint_step;
  std::optional<FpoSelectionRecord> fpo_selection;
  // The run's drift_timeline.h5 (`fpokit train --drift-every`), when the folder is a run or a
  // checkpoint of one that has it; empty otherwise.
  std::filesystem::path timeline;
};

struct LoadedModel {
  lm::CausalLM model;
  ModelSource source;
};

// Classifies `path` without loading anything. Throws InputError naming the path when it does not
// exist or is none of the above.
ModelSource classify_model_source(const std::filesystem::path& path);

// Loads `path` (see above); `base_dir` is the HF directory adapters and checkpoints apply to.
LoadedModel load_model_source(const std::filesystem::path& path, const std::filesystem::path& base_dir,
                              const lm::LoadOptions& options);

// Reads fpo_selection.json; throws InputError naming the file and field.
FpoSelectionRecord read_fpo_selection(const std::filesystem::path& file);

}  // namespace fpokit::analysis
