#pragma once
// `fpokit drift --causal N` (docs/drift.md, 'Causal check'): do the top-ranked features matter for
// the preference the aligned model learned? For the first N features of every ranking, and N
// control features (active under both models, tagged unchanged, drawn with the run's seed), on
// preference pairs (x, y_w, y_l):
//
//   implicit reward margin  m = [log pi(y_w|x) - log pi(y_l|x)] - [log pi_base(y_w|x) - log pi_base(y_l|x)]
//                           (completion log-probabilities summed over tokens; pi_base = the base)
//   attribution             sum over positions of a_f * dm/da_f (activation x gradient), where the
//                           SAE's reconstruction plus its error is spliced in at the hook so that
//                           the forward is unchanged and a_f is a leaf; summed over a pair's two
//                           sequences, averaged over pairs; under the aligned model and under the
//                           base (whose margin is 0 but whose gradient is not)
//   clamp (aligned model)   a_f set to its base-model activation at every position:
//                           x' = x + (a_f^base - a_f^aligned) * d_f (d_f the decoder row in raw
//                           space); the change of the mean margin and of the reward accuracy (the
//                           fraction of pairs with m > 0), and KL(clamped || base) per response
//                           token, also as the fraction of KL(aligned || base) it removes
//   add (base model)        x' = x + (mean_aligned_f - mean_base_f) * d_f at every position; the
//                           margin, accuracy and KL to the base it creates.
//
// The attribution is the first-order (linear) estimate of what scaling a_f by (1 + eps) does to
// m, divided by eps: mean_margin_with_feature_scaled() computes that directly (the tests compare
// both by finite differences).
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "fpokit/analysis/drift/drift_data.h"
#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/hook_name.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::analysis {

struct CausalOptions {
  int64_t n = 0;           // features per ranking (and controls); 0: no causal check
  int64_t pairs = 64;      // preference pairs measured (the first ones of the data)
  int64_t batch_size = 4;  // pairs per forward
  uint64_t seed = 0;       // which controls
};

struct CausalFeature {
  int32_t feature = 0;
  bool control = false;
  std::string rankings;  // "abs_delta_write#1 abs_effect_size#3", or "control"
  double attribution_aligned = 0, attribution_base = 0;
  double clamp_margin_change = 0, clamp_accuracy_change = 0, clamp_kl = 0, clamp_kl_removed = 0;
  double add_margin_change = 0, add_accuracy_change = 0, add_kl = 0;
};

struct CausalResult {
  int64_t pairs = 0, response_tokens = 0;
  double margin_aligned = 0, accuracy_aligned = 0, kl_aligned = 0;  // the aligned model against the base
  std::vector<CausalFeature> features;                              // the top features, then the controls
};

struct CausalInputs {
  lm::CausalLMImpl* base = nullptr;
  lm::CausalLMImpl* aligned = nullptr;
  sae::SparseAutoencoderImpl* sae = nullptr;
  lm::HookName hook;
  const DriftData* data = nullptr;  // preference data (pairs of sequences)
  std::vector<int32_t> features;    // the top features
  std::vector<std::string> feature_rankings;
  std::vector<int32_t> controls;
  Eigen::VectorXd delta_mean;  // mean_aligned - mean_base per feature (split all)
};

// InputError when the data is not preference data or has no pair.
CausalResult run_causal_check(const CausalInputs& inputs, const CausalOptions& options);

// The mean implicit reward margin of `model` against the base over the pairs, with feature f's
// activation multiplied by `scale` at every position (the reconstruction error kept). scale = 1 is
// the model itself.
double mean_margin_with_feature_scaled(const CausalInputs& inputs, lm::CausalLMImpl& model, int32_t feature,
                                       double scale, const CausalOptions& options);

// N controls: features active under both models (freq > 0), tagged unchanged, not in `exclude`,
// drawn with `seed`; fewer when fewer qualify.
std::vector<int32_t> draw_control_features(const Eigen::VectorXd& freq_base, const Eigen::VectorXd& freq_aligned,
                                           const std::vector<uint8_t>& tags, const std::vector<int32_t>& exclude,
                                           int64_t n, uint64_t seed);

}  // namespace fpokit::analysis
