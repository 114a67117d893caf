#pragma once
// `fpokit demo`: the whole mission on the embedded default (examples/demo, docs/demo.md), in one
// call of the libraries every other command uses:
//   1. the SAE: the committed one evaluated on the held-out corpus (or retrained, --retrain-sae);
//   2. DPO, SimPO, TDPO2 and FPO trained from the committed base model on the same pairs, with the
//      same budget and the settings of demo_settings.h;
//   3. the drift report (HDF5 + HTML) of the four aligned models against the base;
//   4. completions sampled for held-out prompts from the base and each aligned model, scored by
//      the demo's lexicon classifier (politeness_lexicon.h);
//   5. a summary: held-out reward accuracy and margin (each method's own reward, and DPO's at
//      β 0.1), mean per-token KL to the base, FPO's feature MSE on the held-out pairs, the polite
//      fraction of the samples, the top shifted features with their logit-lens tokens, and the wall
//      time of every stage; printed as a table and written as summary.json.
//
// Output folder (default runs/demo):
//   sae/ (--retrain-sae), sae_eval.json, dpo/ simpo/ tdpo2/ fpo/ (fpokit train outputs),
//   drift.h5, drift.html, samples.jsonl, summary.json, summary.txt, config.toml
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace fpokit::analysis {

struct DemoOptions {
  std::filesystem::path demo_dir;  // the embedded default: examples/demo of the source tree
  std::filesystem::path out = "runs/demo";
  std::string device = "cpu";
  bool quick = false;        // fewer steps, tokens and samples (≤ 3 minutes on 2 CPU cores)
  bool retrain_sae = false;  // train the SAE again (fpokit sae train's library) instead of the committed one
  bool force = false;        // replace a finished demo in `out`
  bool progress = true;
};

// The embedded default of this build: FPOKIT_DEMO_DIR when set, else examples/demo of the source
// tree the binary was built from.
std::filesystem::path default_demo_dir();

// Runs the demo and returns the summary (also written to <out>/summary.json). InputError for bad
// input before anything is written: a demo folder without its files, an `out` holding a finished
// demo without `force`, an unknown device.
nlohmann::json run_demo(const DemoOptions& options);

// The summary as the table `fpokit demo` prints.
std::string demo_summary_table(const nlohmann::json& summary);

}  // namespace fpokit::analysis
