#pragma once
// The settings `fpokit demo` trains and measures with on the embedded default (examples/demo): one
// row per method, tuned for this 3 M-parameter model by the sweep in docs/demo.md (the libraries'
// defaults, e.g. DPO's learning rate 1e-6, are for billion-parameter models and barely move a tiny
// one), and the budget every method gets. Change them here; docs/demo.md says how they were chosen.
#include <cstdint>
#include <string>
#include <vector>

#include "fpokit/fpo/losses/method.h"
#include "fpokit/fpo/losses/preference_losses.h"

namespace fpokit::analysis {

struct DemoMethodSettings {
  std::string name;  // the run's folder and label: dpo, simpo, tdpo2, fpo
  fpo::Method method;
  fpo::PreferenceLossOptions loss;
  std::string strength;  // the method's strength options in words, for the summary
};

// The same for every method: steps, pairs per step, and the measurement sizes.
struct DemoBudget {
  int64_t steps = 0;  // optimizer steps per method
  int64_t batch_size = 0;
  double learning_rate = 0;     // constant, the same for every method
  int64_t max_length = 128;     // prompt + completion tokens
  int64_t drift_tokens = 0;     // held-out corpus tokens the drift report analyses
  int64_t drift_bootstrap = 0;  // bootstrap replicates of the drift report
  int64_t sae_eval_tokens = 0;  // held-out corpus tokens the SAE is evaluated on
  int64_t sae_retrain_tokens = 0;
  int64_t sample_prompts = 0;  // held-out prompts sampled from each model
  int64_t sample_tokens = 40;  // new tokens per sample
  uint64_t seed = 42;
};

// The hook of the committed SAE and the demo's drift: the residual stream after block 1 of 4.
inline constexpr const char* kDemoHook = "blocks.1.hook_resid_post";

std::vector<DemoMethodSettings> demo_method_settings();
DemoBudget demo_budget(bool quick);

}  // namespace fpokit::analysis
