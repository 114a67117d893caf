#pragma once
// Everything a drift run computed, as the report writer (drift_report_writer.h) stores it.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "fpokit/analysis/drift/causal_check.h"
#include "fpokit/analysis/drift/drift_options.h"
#include "fpokit/analysis/drift/drift_timeline.h"
#include "fpokit/analysis/drift/logit_lens.h"
#include "fpokit/analysis/drift/model_source.h"
#include "fpokit/analysis/drift/rankings.h"
#include "fpokit/analysis/stats/feature_drift_stats.h"
#include "fpokit/analysis/stats/scalar_summary.h"

namespace fpokit::analysis {

// How well the SAE fits one model's activations (sae eval's definitions): L0 and the dead fraction
// on every analysed token; FVU, MSE, cosine and CE on the first fidelity_tokens of them.
struct SaeFidelity {
  std::string model;
  int64_t tokens = 0;                 // analysed tokens (L0, dead fraction)
  int64_t reconstruction_tokens = 0;  // FVU, MSE, cosine
  double fvu = 0, mse = 0, l0 = 0, cosine = 0, dead_fraction = 0;
  int64_t ce_tokens = 0;
  double ce_clean = 0, ce_spliced = 0, ce_zero = 0, ce_recovered = 0;
};

struct SplitStats {
  std::string name;  // all, prompt, response, chosen, rejected
  stats::FeatureDriftStats stats;
  std::vector<uint8_t> tags;  // FeatureTag codes
};

struct KlSummary {
  std::string split;
  stats::ScalarSummary kl;  // per-token KL(aligned ‖ base) of the next-token distributions, nats
};

// Max-activating contexts of the selected features: [n_sel, n_ex] examples of window W.
struct FeatureExamples {
  std::vector<int32_t> features;             // n_sel
  int64_t n_examples = 0;                    // n_ex: the top `examples` under the aligned model, then under the base
  int64_t window = 0;                        // W = 2·example_window + 1
  std::vector<int8_t> group;                 // [n_sel, n_ex]: 0 top under aligned, 1 top under base, -1 none
  std::vector<int64_t> sequence;             // [n_sel, n_ex]: index into the analysed sequences, -1 none
  std::vector<int32_t> center;               // [n_sel, n_ex]: the highlighted position in the sequence
  std::vector<int32_t> token_ids;            // [n_sel, n_ex, W], -1 outside the sequence
  std::vector<float> act_base, act_aligned;  // [n_sel, n_ex, W]
  // Each selected feature's histogram of active values (split all) on DriftResult::histogram_edges,
  // under each model: [n_sel, n_bins].
  std::vector<int64_t> hist_base, hist_aligned;
};

struct AlignedDrift {
  std::string label;
  ModelSource source;
  std::string content_hash;  // sha256_tree of the weights folder
  std::vector<SplitStats> splits;
  // Preference data: per feature mean(chosen) − mean(rejected) under each model, and the change.
  Eigen::VectorXd pref_gap_base, pref_gap_aligned, delta_pref_gap;
  // FPO runs: per feature the fraction of FPO's top-k selections that included it, and whether any did.
  Eigen::VectorXd in_topk_rate;
  std::vector<uint8_t> constrained;
  std::vector<KlSummary> kl;
  double resid_delta_norm = 0;  // ‖mean over analysed tokens of (x_aligned − x_base)‖ at the hook
  SaeFidelity fidelity;
  std::vector<Ranking> rankings;
  FeatureExamples examples;
  LogitLensTable lens_base, lens_aligned;  // rows follow examples.features
  // The training run's drift timeline (source.timeline), up to the analysed checkpoint's step.
  std::optional<DriftTimeline> timeline;
  // --causal N: the causal check of the top features and the controls.
  std::optional<CausalResult> causal;
};

struct DriftResult {
  DriftOptions options;
  std::string command_line;
  std::string config_toml;  // the resolved options, as `--dump-config` prints them
  std::string hook;
  // SAE
  std::string sae_format, sae_architecture, sae_normalization, sae_hash;
  int64_t d_in = 0, d_sae = 0;
  double sae_activation_scale = 1;
  Eigen::VectorXd decoder_norms;
  std::vector<double> histogram_edges;  // n_bins + 1 log-spaced edges of FeatureExamples::hist_*
  // base and data
  std::string base_hash, data_hash, data_kind, data_summary;
  SaeFidelity base_fidelity;
  int64_t sequences = 0, units = 0;
  int64_t positions = 0;          // all positions of the analysed sequences (padding excluded)
  int64_t analysed_tokens = 0;    // in the "all" split
  int64_t excluded_special = 0;   // BOS/separator/special positions
  int64_t excluded_repeat = 0;    // repeated prompt positions of rejected sequences
  int64_t excluded_outliers = 0;  // base residual norm above outlier_threshold
  double outlier_threshold = 0;
  std::vector<AlignedDrift> aligned;
  // Token strings for every id in examples and logit lens.
  std::vector<int64_t> vocab_ids;
  std::vector<std::string> vocab_strings;
  double seconds = 0;
};

}  // namespace fpokit::analysis
