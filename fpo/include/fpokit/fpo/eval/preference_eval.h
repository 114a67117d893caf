#pragma once
// `fpokit eval-prefs`: how a trained model ranks held-out preference pairs, measured with the
// chosen method's own implicit reward, the one its training loss and TRL's logs use
// (docs/methods.md, 'Rewards and log-probs'):
//   dpo, ipo, hinge, robust, kto: β(Σ log π − Σ log π_ref) over the completion tokens;
//   tdpo1/2: β(Σ log π − Σ log π_ref + the sequence KL to the reference);
//   fpo: β(mean log π − mean log π_ref + the feature MSE); simpo, orpo: β · mean log π
//   (reference-free). sft has no reward and is refused.
// The metrics are those of the training loop's evaluation (PreferenceTrainer::evaluate) without
// the "eval_" prefix: loss, rewards/{accuracies,margins,chosen,rejected}, logps/{chosen,rejected},
// logits/{chosen,rejected} and the method's own (fpo/feature_mse/*, kl, sft_loss, ...).
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "fpokit/fpo/data/preference_tokenizer.h"
#include "fpokit/fpo/losses/method.h"
#include "fpokit/fpo/losses/preference_losses.h"
#include "fpokit/fpo/training/preference_trainer.h"

namespace fpokit::fpo {

struct PreferenceEvalOptions {
  std::string model_dir;
  std::string adapter;        // a PEFT LoRA adapter on top of model_dir (empty: none)
  std::string ref_model_dir;  // required by the methods with a reference
  std::string data;
  std::string split;          // a dataset folder's split (--split)
  PreferenceFields fields;    // --prompt-field, --chosen-field, ...
  std::string chat_template;  // empty: detected
  std::string device = "cpu";
  std::string dtype = "auto";
  PreferenceTokenizerOptions tokenization;
  Method method = Method::Dpo;
  PreferenceLossOptions loss;
  int64_t batch_size = 8;
  int64_t logits_chunk_size = kDefaultLogitsChunkSize;  // PreferenceTrainerOptions::logits_chunk_size
  bool share_prompt = true;                             // PreferenceTrainerOptions::share_prompt
  std::string sae;                                      // fpo
  std::string fpo_hook;                                 // fpo; empty: the SAE's own
};

struct PreferenceEvalResult {
  Method method = Method::Dpo;
  int64_t pairs = 0;                      // pairs (KTO: examples) evaluated
  std::map<std::string, double> metrics;  // TRL names
  nlohmann::json inputs;                  // absolute paths of the model, adapter, reference, data, SAE
  nlohmann::json parameters;              // the method's options, by their CLI names
};

// InputError for bad input (a method without reward, a missing reference or SAE, unusable data).
PreferenceEvalResult evaluate_preference_data(PreferenceEvalOptions options);

// What the reward of `method` is, in words (the formula above).
std::string reward_definition(Method method);

nlohmann::json preference_eval_json(const PreferenceEvalResult& r);
std::string preference_eval_table(const PreferenceEvalResult& r);

}  // namespace fpokit::fpo
