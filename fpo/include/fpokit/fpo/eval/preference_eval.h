#pragma once
// `fpokit eval-prefs`: how a trained model ranks held-out pairs against its reference.
// Per pair, with sums of completion log-probs:
//   reward_w = β(Σlogπ(y_w) − Σlogπref(y_w)),  reward_l likewise (DPO's implicit reward)
//   accuracy = mean[reward_w > reward_l],       margin = mean(reward_w − reward_l)
// plus the reference-free ranking on per-token means (SimPO's view): mean[mean logπ(y_w) > mean logπ(y_l)].
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "fpokit/fpo/data/preference_tokenizer.h"
#include "fpokit/lm/model/causal_lm.h"

namespace fpokit::fpo {

struct PreferenceEvalResult {
  int64_t pairs = 0;
  double beta = 0.1;
  double reward_accuracy = 0, reward_margin = 0, reward_chosen = 0, reward_rejected = 0;
  double mean_logp_accuracy = 0;       // policy alone, length-normalised
  double reference_mean_logp_accuracy = 0;
};

PreferenceEvalResult evaluate_preferences(lm::CausalLMImpl& model, lm::CausalLMImpl& reference,
                                          const std::vector<TokenizedPair>& pairs, double beta, int64_t batch_size,
                                          int64_t pad_id);

nlohmann::json preference_eval_json(const PreferenceEvalResult& r);
std::string preference_eval_table(const PreferenceEvalResult& r);

}  // namespace fpokit::fpo
