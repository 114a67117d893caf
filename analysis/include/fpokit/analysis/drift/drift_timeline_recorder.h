#pragma once
// `fpokit train --drift-every N`: the drift timeline of a training run (drift_timeline.h).
//
// Before training the recorder loads the SAE and tokenises the token set (--drift-data) as
// `fpokit drift` does (drift_data.h, drift_batches.h: same batches, same analysed positions, same
// outlier rule). At step 0 it runs the policy, which is still the starting model, keeps its
// activations at the hook on the analysed positions and saves them to
// `<out>/drift_timeline_base.h5`, so that a resumed run compares against the very same numbers
// without loading the starting model again. Each snapshot then needs one forward of the policy up
// to the hook (stop_after_last_read), two SAE encodes and the accumulation: less than `fpokit
// drift` on the same tokens, which runs both models to the logits.
//
// A snapshot leaves the policy as it found it: no gradient, eval mode only for the snapshot (its
// train/eval mode is restored), and no draw from any random generator, so a run with
// --drift-every trains bitwise as one without.
#include <cstdint>
#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "fpokit/analysis/drift/drift_data.h"
#include "fpokit/analysis/drift/drift_timeline.h"
#include "fpokit/fpo/data/preference_fields.h"
#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/hook_name.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::analysis {

struct DriftTimelineOptions {
  std::filesystem::path data;  // text corpus or preference file, as `fpokit drift --data`
  std::filesystem::path sae;
  std::string hook;  // empty: the SAE's own
  int64_t every = 0;
  int64_t tokens = 16384;
  int64_t batch_size = 8;
  int64_t context_size = 128;  // text data
  int64_t max_length = 512;    // preference data
  std::string data_kind = "auto";
  std::string text_field = "text";
  std::string split;             // a dataset folder's split (--split); empty for a file
  fpo::PreferenceFields fields;  // preference data: --prompt-field, --chosen-field, --rejected-field
  std::string chat_template = "auto";
  double alpha = 0.05;
  double min_rel_delta = 1e-4;
  double outlier_factor = 10.0;
};

class DriftTimelineRecorder {
 public:
  // Loads the SAE and reads the token set with the tokenizer of `model_dir`; writes nothing.
  // InputError (one line: what, where, how to fix) for a bad interval, a missing file, an SAE
  // whose width or hook does not fit the model, or data that yields no token.
  DriftTimelineRecorder(DriftTimelineOptions options, const std::filesystem::path& model_dir,
                        const std::filesystem::path& out_dir);
  ~DriftTimelineRecorder();

  // The policy after `step` of `total_steps` optimizer steps. Called once before training (step 0,
  // or the step a resumed run continues from) and after every optimizer step; takes a snapshot at
  // step 0, every `every` steps and at the last step, each appended to drift_timeline.h5 before
  // the trainer's checkpoint of that step. A resumed run drops the snapshots after its checkpoint's
  // step (taken again, identically, as it trains on) and refuses a timeline with other settings
  // or a gap.
  void observe(lm::CausalLMImpl& policy, int64_t step, int64_t total_steps);

  const DriftTimeline& timeline() const { return timeline_; }
  std::filesystem::path timeline_path() const;
  std::filesystem::path base_cache_path() const;

 private:
  void start(lm::CausalLMImpl& policy, int64_t step);
  void take_snapshot(lm::CausalLMImpl& policy, int64_t step);
  // The policy's activations at the hook for one batch, float32 [positions, d_in].
  torch::Tensor activations(lm::CausalLMImpl& policy, size_t batch) const;

  DriftTimelineOptions options_;
  std::filesystem::path out_dir_;
  sae::SparseAutoencoder sae_{nullptr};
  lm::HookName hook_;
  DriftData data_;
  std::vector<std::vector<int64_t>> batches_;
  int64_t stride_ = 1;
  DriftTimeline timeline_;
  bool started_ = false;
  // The starting model's activations on each batch's analysed positions, and those positions.
  std::vector<torch::Tensor> base_rows_;       // float32 [n_b, d_in], CPU
  std::vector<torch::Tensor> analysed_index_;  // int64 [n_b], positions within the batch
};

}  // namespace fpokit::analysis
