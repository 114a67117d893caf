#pragma once
// Preference training of a causal LM (full fine-tuning) with any method of preference_losses.h.
// The reference is computed offline in one pass before training (precompute_reference): per pair
// the reference's summed/mean completion log-probs and, for FPO, its pooled SAE features. The
// reference model is then dropped, except for TDPO, which needs the reference's per-token
// distributions and keeps it for an online forward.
//
// Option names follow TRL (learning_rate, per_device_train_batch_size, ...). Batches are drawn
// from a permutation of the pairs seeded by (seed, epoch); on CPU a run is bitwise deterministic.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "fpokit/core/train/lr_schedule.h"
#include "fpokit/fpo/data/preference_tokenizer.h"
#include "fpokit/fpo/losses/preference_losses.h"
#include "fpokit/fpo/training/pair_forward.h"
#include "fpokit/lm/model/lora.h"

namespace fpokit::fpo {

// Right-pads pairs (preference_tokenizer.h) into the [chosen ; rejected] layout.
PairBatch collate_pairs(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id);

// HF TrainingArguments' `optim` names. RMSprop is the optimiser of the DPO/TDPO/FPO released code
// (torch defaults: alpha 0.99, eps 1e-8, no momentum).
enum class OptimizerKind { AdamW, RMSprop };
OptimizerKind parse_optimizer(const std::string& name);  // adamw_torch | rmsprop; ConfigError otherwise
const char* optimizer_name(OptimizerKind kind);

// The chunked log-prob head's default positions per chunk: docs/BENCHMARKS.md ('Lean preference
// step') has the measurement that chose it.
inline constexpr int64_t kDefaultLogitsChunkSize = 256;

struct PreferenceTrainerOptions {
  Method method = Method::Dpo;
  OptimizerKind optim = OptimizerKind::AdamW;
  PreferenceLossOptions loss;
  double learning_rate = 1e-6;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  core::LrScheduler lr_scheduler_type = core::LrScheduler::Linear;
  int64_t warmup_steps = 0;
  int64_t max_steps = -1;  // > 0 overrides num_train_epochs
  double num_train_epochs = 1.0;
  int64_t per_device_train_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  bool gradient_checkpointing = false;
  // Positions per chunk of the chunked log-prob head (lm/model/chunked_token_logps.h): only the
  // positions that predict completion tokens reach the LM head, chunk by chunk, so no
  // [2B, T, vocab] logits exist. 0: the full-logits path.
  int64_t logits_chunk_size = kDefaultLogitsChunkSize;
  // One trunk pass per pair over the prompt the chosen and rejected sequences share
  // (fpo/training/shared_prompt.h) instead of two full sequences; exact.
  bool share_prompt = true;
  // Mixed precision: forward passes (policy and reference) under autocast to this dtype while the
  // parameters, gradients and optimizer state stay in the model's float32 (nullopt: no autocast).
  std::optional<torch::ScalarType> autocast_dtype;  // recompute each block in the backward (lm/activation_checkpoint.h)
  uint64_t seed = 42;
  int64_t logging_steps = 10;
  int64_t pad_id = 0;
  torch::Device device = torch::kCPU;
  // Checkpoints (policy weights, AdamW state, step) go to output_dir/checkpoint every save_steps
  // optimizer steps (0: never), written atomically; stop_after_steps > 0 stops early with one.
  std::filesystem::path output_dir;
  int64_t save_steps = 0;
  // Evaluation on the eval pairs (set_eval_pairs) every eval_steps optimizer steps (0: only at the
  // end of training), in batches of per_device_eval_batch_size, reported with TRL's "eval_" names.
  int64_t eval_steps = 0;
  int64_t per_device_eval_batch_size = 8;
  int64_t stop_after_steps = 0;
  // What else a resumed run must share with the one that wrote the checkpoint, set by the training
  // run (training_run.h): tokenisation settings and the content of the data, models and SAE.
  nlohmann::json run_identity = nlohmann::json::object();

  // ConfigError naming the option (its CLI spelling) for a value outside its range (a negative
  // learning rate, weight decay, warm-up or cadence, a batch size below 1, ...); the loss options
  // are PreferenceLossOptions::validate's.
  void validate() const;
};

struct StepMetrics {
  int64_t step = 0;
  std::map<std::string, double> values;  // TRL names: loss, rewards/chosen, ..., lr, grad_norm
};

// Whether the reference model runs beside the policy at every step instead of being cached once:
// TDPO (its token-level KL needs the reference's whole next-token distribution) and FPO's
// released variant (the authors' code pools the reference's features on each training batch).
bool reference_runs_online(const PreferenceTrainerOptions& options);

class PreferenceTrainer {
 public:
  // `policy` is trained in place. `probe` (FPO): the SAE and hook; its SAE must live on the
  // policy's device. Throws ConfigError for invalid options.
  PreferenceTrainer(PreferenceTrainerOptions options, lm::CausalLM policy, std::vector<TokenizedPair> pairs,
                    FeatureProbe probe = {});
  // An evaluator (`fpokit eval-prefs`): every pair is an eval pair and there is no optimizer;
  // call precompute_reference (and use_kto_labels for KTO), then evaluate(). Not for train().
  struct EvaluationOnly {};
  PreferenceTrainer(EvaluationOnly, PreferenceTrainerOptions options, lm::CausalLM policy,
                    std::vector<TokenizedPair> pairs, FeatureProbe probe = {});
  ~PreferenceTrainer();

  // Offline reference pass (no grad). For TDPO the model is also kept for online use; for FPO's
  // released variant it is only kept (reference_runs_online). With LoRA the reference may be the
  // policy itself: its adapters are switched off for reference passes.
  void precompute_reference(const lm::CausalLM& reference);

  // Held-out pairs: their reference values are computed with the training pairs' (call before
  // precompute_reference/set_reference_values), they never enter a training batch, and train()
  // reports their loss and metrics, prefixed "eval_", every eval_steps and at the end.
  void set_eval_pairs(std::vector<TokenizedPair> eval);
  // Loss and metrics over the eval pairs (policy in eval mode, no gradient), "eval_" names.
  std::map<std::string, double> evaluate();

  // KTO: the pairs are kto_training_pairs() (example, KL sequence) and these their labels
  // (1 desirable, 0 undesirable), for the training then the eval pairs. Required for Method::Kto,
  // before train().
  void use_kto_labels(std::vector<uint8_t> desirable);

  // Trains only these LoRA adapters (attached to the policy; lm/lora.h) instead of all weights.
  // Call before precompute_reference/train/resume.
  void use_lora(lm::LoraAdapters* adapters);

  int64_t total_steps() const;
  int64_t step() const { return step_; }
  // Runs to total_steps(); `report` gets the metrics every logging_steps and at the end. Throws
  // InputError when the loss becomes NaN/Inf (naming the step; the last checkpoint stays).
  // Called after every optimizer step with the step number, whatever the logging cadence (the
  // progress line).
  void on_step(std::function<void(int64_t step)> listener) { step_listener_ = std::move(listener); }
  // Returns false when it stopped early (stop_after_steps).
  bool train(const std::function<void(const StepMetrics&)>& report = {});

  void save_checkpoint() const;
  bool has_checkpoint() const;
  // Continues from output_dir/checkpoint: weights, optimizer state and step. The batch order is a
  // function of (seed, epoch), so the continued run sees the same batches as an uninterrupted one.
  void resume();
  // The checkpoint's trainer_state.json, after checking that it belongs to a run with these
  // settings (InputError listing every difference otherwise; core::CheckpointFolder). resume() calls it; a caller may
  // call it first to fail before any costly work.
  nlohmann::json check_checkpoint() const;

  // Per-pair reference values (index order of the pairs), for tests and caches.
  struct ReferenceValues {
    torch::Tensor chosen_sum, chosen_mean, chosen_tokens, rejected_sum, rejected_mean, rejected_tokens;  // [N]
    torch::Tensor chosen_pooled, rejected_pooled;                                                        // [N, F] (FPO)
  };
  const ReferenceValues& reference_values() const { return reference_; }
  // Uses reference values from a cache (reference_cache.h) instead of precompute_reference().
  // Not for TDPO, which needs the reference model online.
  void set_reference_values(ReferenceValues values);

  // FPO: how often each SAE feature was in the constrained set I (feature_selection) over the
  // training batches so far: counts int64 [F] (undefined before the first FPO step), and the number
  // of selections counted (two per training pair and optimizer pass: chosen and rejected). Saved in
  // checkpoints and restored by resume(), so a resumed run's counts equal an uninterrupted run's.
  struct FeatureSelectionCounts {
    torch::Tensor counts;
    int64_t selections = 0;
  };
  const FeatureSelectionCounts& feature_selection_counts() const { return selection_; }

 private:
  std::vector<int64_t> batch_indices(int64_t micro_batch) const;  // of global micro-batch number

  PreferenceTrainerOptions options_;
  lm::CausalLM policy_;
  lm::LoraAdapters* lora_ = nullptr;
  std::vector<uint8_t> kto_desirable_;
  int64_t num_train_ = 0;         // pairs_[0, num_train_) train; the rest are eval pairs
  lm::CausalLM reference_model_;  // when reference_runs_online(): TDPO, FPO's released variant
  std::vector<TokenizedPair> pairs_;
  FeatureProbe probe_;
  ReferenceValues reference_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  void make_optimizer(std::vector<torch::Tensor> parameters);
  // The loss of the pairs `indices` (policy forward with gradient unless under NoGradGuard, the
  // reference values, KTO's split by label) and what is logged beside it.
  struct BatchLoss {
    LossResult result;
    torch::Tensor mean_logits_chosen, mean_logits_rejected;  // undefined for KTO
    int64_t tokens = 0;                                      // non-padding tokens
  };
  // count_selection: add FPO's selected features to selection_ (training batches only).
  BatchLoss batch_loss(const std::vector<int64_t>& indices, bool count_selection = false);
  FeatureSelectionCounts selection_;

  nlohmann::json checkpoint_identity() const;
  int64_t step_ = 0;
  std::function<void(int64_t)> step_listener_;
  // Sums of the step metrics since the last log line, and their number (saved in checkpoints).
  StepMetrics window_;
  int64_t window_steps_ = 0;
  bool reference_ready_ = false;
};

}  // namespace fpokit::fpo
