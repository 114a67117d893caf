#include "fpokit/fpo/training/preference_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/json_integer.h"
#include "fpokit/core/memory/large_allocations.h"
#include "fpokit/core/train/autocast_scope.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/core/train/gradient_clipping.h"
#include "fpokit/core/train/optimizer_state.h"
#include "fpokit/fpo/training/fused_adamw.h"
#include "fpokit/lm/checkpoint/safetensors.h"

namespace fpokit::fpo {

PairBatch collate_pairs(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id) {
  auto b = collate_preference_pairs(pairs, pad_id);
  return {b.input_ids, b.attention_mask, b.completion_mask};
}

namespace {

// Switches LoRA adapters off for its lifetime (a LoRA run's reference is its base); no-op on null.
class AdaptersOff {
 public:
  explicit AdaptersOff(lm::LoraAdapters* lora) : lora_(lora) {
    if (lora_) lora_->set_enabled(false);
  }
  ~AdaptersOff() {
    if (lora_) lora_->set_enabled(true);
  }
  AdaptersOff(const AdaptersOff&) = delete;
  AdaptersOff& operator=(const AdaptersOff&) = delete;

 private:
  lm::LoraAdapters* lora_;
};

// The rows `idx` of per-sequence log-probs (sum, mean, num_tokens: what the losses read).
SequenceLogps select_rows(const SequenceLogps& s, const torch::Tensor& idx) {
  SequenceLogps out;
  out.sum = s.sum.index_select(0, idx);
  out.mean = s.mean.index_select(0, idx);
  out.num_tokens = s.num_tokens.index_select(0, idx);
  return out;
}

}  // namespace

void PreferenceTrainerOptions::validate() const {
  loss.validate(method);
  const auto at_least = [](double value, double low, const char* option, const char* meaning = "") {
    if (!(value >= low)) {
      std::ostringstream os;
      os << option << " must be at least " << low << meaning << ", got " << value;
      throw ConfigError(os.str());
    }
  };
  at_least(learning_rate, 0, "--learning-rate");
  at_least(weight_decay, 0, "--weight-decay");
  if (!(adam_beta1 >= 0 && adam_beta1 < 1 && adam_beta2 >= 0 && adam_beta2 < 1 && adam_epsilon > 0))
    throw ConfigError("Adam betas must be in [0, 1) and epsilon positive");
  at_least(static_cast<double>(warmup_steps), 0, "--warmup-steps");
  if (max_steps < -1 || (max_steps <= 0 && !(num_train_epochs > 0)))
    throw ConfigError("give --max-steps N > 0, or --num-train-epochs above 0 (got --max-steps " +
                      std::to_string(max_steps) + ", --num-train-epochs " + std::to_string(num_train_epochs) + ")");
  at_least(static_cast<double>(per_device_train_batch_size), 1, "--per-device-train-batch-size");
  at_least(static_cast<double>(gradient_accumulation_steps), 1, "--gradient-accumulation-steps");
  at_least(max_grad_norm, 0, "--max-grad-norm", " (0: no clipping)");
  at_least(static_cast<double>(logging_steps), 1, "--logging-steps");
  at_least(static_cast<double>(save_steps), 0, "--save-steps", " (0: only with --stop-after-steps)");
  at_least(static_cast<double>(eval_steps), 0, "--eval-steps", " (0: at the end only)");
  at_least(static_cast<double>(per_device_eval_batch_size), 1, "--per-device-eval-batch-size");
  at_least(static_cast<double>(stop_after_steps), 0, "--stop-after-steps");
}

PreferenceTrainer::PreferenceTrainer(PreferenceTrainerOptions options, lm::CausalLM policy,
                                     std::vector<TokenizedPair> pairs, FeatureProbe probe)
    : options_(std::move(options)), policy_(std::move(policy)), pairs_(std::move(pairs)), probe_(probe) {
  options_.validate();
  if (pairs_.empty()) throw InputError("no training pairs: the dataset is empty after tokenisation and filtering");
  // Before the reference pass and the first step: on the CPU their large, short-lived tensors
  // would otherwise leave ~0.5 GB of freed heap resident (core/memory/large_allocations.h).
  if (options_.device.is_cpu()) core::map_large_allocations();
  num_train_ = static_cast<int64_t>(pairs_.size());
  if (options_.method == Method::Fpo && probe_.sae == nullptr)
    throw ConfigError("--method fpo needs an SAE (--sae DIR) to constrain features with");
  for (const auto& p : pairs_) {
    if (p.chosen.input_ids.size() != p.chosen.completion_mask.size() ||
        p.rejected.input_ids.size() != p.rejected.completion_mask.size())
      throw std::invalid_argument("TokenizedPair: ids and completion mask differ in length");
  }
  policy_->train();
  policy_->set_gradient_checkpointing(options_.gradient_checkpointing);
  make_optimizer(policy_->parameters());
}

PreferenceTrainer::PreferenceTrainer(EvaluationOnly, PreferenceTrainerOptions options, lm::CausalLM policy,
                                     std::vector<TokenizedPair> pairs, FeatureProbe probe)
    : options_(std::move(options)), policy_(std::move(policy)), pairs_(std::move(pairs)), probe_(probe) {
  options_.loss.validate(options_.method);
  if (pairs_.empty()) throw InputError("no pairs to evaluate: the dataset is empty after tokenisation and filtering");
  num_train_ = 0;
  if (options_.method == Method::Fpo && probe_.sae == nullptr)
    throw ConfigError("--method fpo needs an SAE (--sae DIR) to measure features with");
  policy_->eval();
}

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "adamw_torch" || name == "adamw") return OptimizerKind::AdamW;
  if (name == "rmsprop") return OptimizerKind::RMSprop;
  throw ConfigError("--optim: unknown optimizer '" + name + "' (use adamw_torch or rmsprop)");
}

const char* optimizer_name(OptimizerKind kind) { return kind == OptimizerKind::AdamW ? "adamw_torch" : "rmsprop"; }

void PreferenceTrainer::make_optimizer(std::vector<torch::Tensor> parameters) {
  if (options_.optim == OptimizerKind::RMSprop) {
    optimizer_ = std::make_unique<torch::optim::RMSprop>(std::move(parameters),
                                                         torch::optim::RMSpropOptions(options_.learning_rate)
                                                             .eps(options_.adam_epsilon)
                                                             .weight_decay(options_.weight_decay));
    return;
  }
  optimizer_ =
      std::make_unique<FusedAdamW>(std::move(parameters), torch::optim::AdamWOptions(options_.learning_rate)
                                                              .betas({options_.adam_beta1, options_.adam_beta2})
                                                              .eps(options_.adam_epsilon)
                                                              .weight_decay(options_.weight_decay));
}

PreferenceTrainer::~PreferenceTrainer() = default;

int64_t PreferenceTrainer::total_steps() const {
  if (options_.max_steps > 0) return options_.max_steps;
  const auto N = num_train_;
  const int64_t per_epoch = (N + options_.per_device_train_batch_size - 1) / options_.per_device_train_batch_size;
  const auto micro = static_cast<int64_t>(std::ceil(options_.num_train_epochs * static_cast<double>(per_epoch)));
  return std::max<int64_t>(1,
                           (micro + options_.gradient_accumulation_steps - 1) / options_.gradient_accumulation_steps);
}

std::vector<int64_t> PreferenceTrainer::batch_indices(int64_t micro_batch) const {
  const auto N = num_train_;
  const int64_t bs = options_.per_device_train_batch_size;
  const int64_t per_epoch = (N + bs - 1) / bs;
  const int64_t epoch = micro_batch / per_epoch, within = micro_batch % per_epoch;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed * 1000003ull + static_cast<uint64_t>(epoch));
  const auto perm = torch::randperm(N, gen, torch::kInt64);
  const int64_t start = within * bs, end = std::min(N, start + bs);
  std::vector<int64_t> out;
  for (int64_t i = start; i < end; ++i) out.push_back(perm[i].item<int64_t>());
  return out;
}

void PreferenceTrainer::set_eval_pairs(std::vector<TokenizedPair> eval) {
  if (reference_ready_) throw std::logic_error("set_eval_pairs: call it before the reference is computed or set");
  pairs_.resize(static_cast<size_t>(num_train_));
  for (auto& p : eval) pairs_.push_back(std::move(p));
}

std::map<std::string, double> PreferenceTrainer::evaluate() {
  const auto N = static_cast<int64_t>(pairs_.size());
  if (N == num_train_) return {};
  torch::NoGradGuard no_grad;
  const bool was_training = policy_->is_training();
  policy_->eval();
  std::map<std::string, double> sums;
  std::map<std::string, int64_t> counts;
  const int64_t bs = std::max<int64_t>(1, options_.per_device_eval_batch_size);
  for (int64_t start = num_train_; start < N; start += bs) {
    std::vector<int64_t> indices;
    for (int64_t i = start; i < std::min(N, start + bs); ++i) indices.push_back(i);
    const auto n = static_cast<int64_t>(indices.size());
    auto add = [&](const std::string& name, double value, int64_t weight) {
      sums[name] += value * static_cast<double>(weight);
      counts[name] += weight;
    };
    const auto r = batch_loss(indices);
    add("loss", r.result.loss.item<double>(), n);
    if (r.mean_logits_chosen.defined()) {
      add("logits/chosen", r.mean_logits_chosen.item<double>(), n);
      add("logits/rejected", r.mean_logits_rejected.item<double>(), n);
    }
    // Per-sequence metrics weigh by their own length (KTO's sides differ per batch); scalars by n.
    for (const auto& [name, value] : r.result.metrics)
      if (value.numel() > 0)
        add(name, value.to(torch::kFloat64).mean().item<double>(), value.dim() == 0 ? n : value.numel());
  }
  if (was_training) policy_->train();
  std::map<std::string, double> out;
  for (const auto& [name, sum] : sums) out["eval_" + name] = sum / static_cast<double>(counts[name]);
  return out;
}

void PreferenceTrainer::use_kto_labels(std::vector<uint8_t> desirable) {
  if (options_.method != Method::Kto) throw std::logic_error("use_kto_labels: the method is not kto");
  if (desirable.size() != pairs_.size())
    throw std::invalid_argument("use_kto_labels: " + std::to_string(desirable.size()) + " labels for " +
                                std::to_string(pairs_.size()) + " examples");
  kto_desirable_ = std::move(desirable);
}

void PreferenceTrainer::use_lora(lm::LoraAdapters* adapters) {
  lora_ = adapters;
  make_optimizer(lora_->parameters());
}

bool reference_runs_online(const PreferenceTrainerOptions& options) {
  return method_traits(options.method).reference_online ||
         (options.method == Method::Fpo && options.loss.fpo.variant == FpoVariant::ReleasedCode);
}

void PreferenceTrainer::precompute_reference(const lm::CausalLM& reference) {
  if (options_.method == Method::Fpo && reference_runs_online(options_)) {
    // The released FPO code runs the reference beside the policy on each training batch, so its
    // pooled features share the batch's padded length T-1 (docs/methods.md, 'FPO: the paper and
    // the released code'); nothing to precompute.
    reference_model_ = reference;
    reference_ready_ = true;
    return;
  }
  torch::NoGradGuard no_grad;
  // The base model with the adapters off is the reference of a LoRA run.
  AdaptersOff adapters_off(reference == policy_ ? lora_ : nullptr);
  const bool was_training = reference->is_training();
  reference->eval();
  const auto N = static_cast<int64_t>(pairs_.size());
  std::vector<torch::Tensor> cs, cm, cn, rs, rm, rn, cp, rp;
  for (int64_t start = 0; start < N; start += options_.per_device_train_batch_size) {
    std::vector<const TokenizedPair*> batch;
    for (int64_t i = start; i < std::min(N, start + options_.per_device_train_batch_size); ++i)
      batch.push_back(&pairs_[i]);
    core::AutocastScope autocast(options_.device.type(), options_.autocast_dtype);
    const auto f = forward_pairs(*reference, collate_pairs(batch, options_.pad_id).to(options_.device),
                                 options_.method == Method::Fpo ? &probe_ : nullptr, {}, false, false, false,
                                 PairForwardOptions{options_.logits_chunk_size, options_.share_prompt, {}, {}});
    cs.push_back(f.chosen.sum.cpu());
    cm.push_back(f.chosen.mean.cpu());
    cn.push_back(f.chosen.num_tokens.cpu());
    rs.push_back(f.rejected.sum.cpu());
    rm.push_back(f.rejected.mean.cpu());
    rn.push_back(f.rejected.num_tokens.cpu());
    if (f.pooled_chosen.defined()) {
      cp.push_back(f.pooled_chosen.cpu());
      rp.push_back(f.pooled_rejected.cpu());
    }
  }
  reference_ = {torch::cat(cs),
                torch::cat(cm),
                torch::cat(cn),
                torch::cat(rs),
                torch::cat(rm),
                torch::cat(rn),
                cp.empty() ? torch::Tensor() : torch::cat(cp),
                rp.empty() ? torch::Tensor() : torch::cat(rp)};
  if (was_training) reference->train();
  if (reference_runs_online(options_)) reference_model_ = reference;
  reference_ready_ = true;
}

PreferenceTrainer::BatchLoss PreferenceTrainer::batch_loss(const std::vector<int64_t>& indices, bool count_selection) {
  const auto device = options_.device;
  auto ref_logps = [&](const torch::Tensor& idx, bool chosen) {
    SequenceLogps s;
    s.sum = (chosen ? reference_.chosen_sum : reference_.rejected_sum).index_select(0, idx).to(device);
    s.mean = (chosen ? reference_.chosen_mean : reference_.rejected_mean).index_select(0, idx).to(device);
    s.num_tokens = (chosen ? reference_.chosen_tokens : reference_.rejected_tokens).index_select(0, idx).to(device);
    return s;
  };
  std::vector<const TokenizedPair*> pairs;
  for (const auto i : indices) pairs.push_back(&pairs_[i]);
  const auto batch = collate_pairs(pairs, options_.pad_id).to(device);
  const auto idx = torch::tensor(indices, torch::kInt64);
  // Forwards under autocast; the losses run in the dtypes forward_pairs returns, and the backward
  // (the caller's) outside autocast.
  const bool fpo = options_.method == Method::Fpo;
  // SFT on text rows (read_sft_data: the same sequence on both sides) forwards one side only; SFT
  // on preference rows forwards both, since TRL logs the rejected side's log-probs too.
  const bool chosen_only =
      options_.method == Method::Sft && std::all_of(pairs.begin(), pairs.end(), [](const TokenizedPair* p) {
        return p->rejected.input_ids == p->chosen.input_ids;
      });
  const bool orpo_sequence_nll = options_.method == Method::Orpo && options_.loss.orpo.nll == OrpoNll::Sequence;
  // The online reference: TDPO's logits (its token KL), or the released FPO code's whole forward
  // (log-probs and pooled features on this very batch).
  std::optional<PairForward> online_reference;
  const auto f = [&] {
    core::AutocastScope autocast(device.type(), options_.autocast_dtype);
    torch::Tensor reference_logits;
    PairForwardOptions chunking{options_.logits_chunk_size, options_.share_prompt, {}, {}};
    if (reference_model_) {
      torch::NoGradGuard no_grad;
      AdaptersOff adapters_off(reference_model_ == policy_ ? lora_ : nullptr);
      if (fpo) {
        online_reference = forward_pairs(*reference_model_, batch, &probe_, {}, false, false, false, chunking);
      } else if (chunking.chunk_size > 0) {
        // TDPO's token KL, chunked: the reference's hidden states now, its head chunk by chunk
        // (again in the backward, with a LoRA run's adapters off there too).
        chunking.reference_hidden = pair_hidden_states(*reference_model_, batch, chunking.share_prompt);
        chunking.reference_head = [reference = reference_model_.get(),
                                   lora = reference_model_ == policy_ ? lora_ : nullptr](const torch::Tensor& h) {
          AdaptersOff off(lora);
          return reference->logits(h);
        };
      } else {
        reference_logits =
            reference_model_->logits(pair_hidden_states(*reference_model_, batch, chunking.share_prompt));
      }
    }
    return forward_pairs(*policy_, batch, fpo ? &probe_ : nullptr, reference_logits, /*keep_logits=*/false,
                         orpo_sequence_nll, chosen_only, chunking);
  }();
  PreferenceInputs in;
  in.policy_chosen = f.chosen;
  in.policy_rejected = f.rejected;
  if (online_reference) {
    in.reference_chosen = online_reference->chosen;
    in.reference_rejected = online_reference->rejected;
  } else if (reference_ready_) {
    in.reference_chosen = ref_logps(idx, true);
    in.reference_rejected = ref_logps(idx, false);
  }
  in.kl_chosen = f.chosen.kl;
  in.kl_rejected = f.rejected.kl;
  if (orpo_sequence_nll) in.chosen_nll = f.chosen_sequence_nll;
  if (fpo) {
    const auto& o = options_.loss.fpo;
    const auto ref_pooled_chosen =
        online_reference ? online_reference->pooled_chosen : reference_.chosen_pooled.index_select(0, idx).to(device);
    const auto ref_pooled_rejected = online_reference ? online_reference->pooled_rejected
                                                      : reference_.rejected_pooled.index_select(0, idx).to(device);
    in.feature_mse_chosen = feature_mse(f.pooled_chosen, ref_pooled_chosen, o.top_k, o.variant);
    in.feature_mse_rejected = feature_mse(f.pooled_rejected, ref_pooled_rejected, o.top_k, o.variant);
    if (count_selection) {
      torch::NoGradGuard no_grad;
      for (const bool chosen : {true, false}) {
        const auto& pooled = chosen ? f.pooled_chosen : f.pooled_rejected;
        const auto& ref = chosen ? ref_pooled_chosen : ref_pooled_rejected;
        const auto selected = feature_selection(pooled, ref, o.top_k, o.variant);
        const auto per_feature = selected.sum(0).to(torch::kInt64).cpu();
        selection_.counts = selection_.counts.defined() ? selection_.counts + per_feature : per_feature;
        selection_.selections += selected.size(0);
      }
    }
  }
  if (options_.method == Method::Kto) {
    // Rows are (example, KL sequence) pairs (kto_pairs.h): z0 from the KL sequences, then the
    // examples split by label into the desirable (chosen) and undesirable (rejected) sides.
    in.kto_reference_point = kto_reference_point(f.rejected.sum, in.reference_rejected.sum);
    std::vector<int64_t> good, bad;
    for (size_t j = 0; j < indices.size(); ++j)
      (kto_desirable_[static_cast<size_t>(indices[j])] ? good : bad).push_back(static_cast<int64_t>(j));
    const auto good_rows = torch::tensor(good, torch::kInt64).to(device);
    const auto bad_rows = torch::tensor(bad, torch::kInt64).to(device);
    const auto reference_examples = in.reference_chosen;
    in.policy_chosen = select_rows(f.chosen, good_rows);
    in.policy_rejected = select_rows(f.chosen, bad_rows);
    in.reference_chosen = select_rows(reference_examples, good_rows);
    in.reference_rejected = select_rows(reference_examples, bad_rows);
  }
  BatchLoss out{
      preference_loss(options_.method, in, options_.loss),
      {},
      {},
      (chosen_only ? batch.attention_mask.narrow(0, 0, batch.pairs()) : batch.attention_mask).sum().item<int64_t>()};
  if (options_.method != Method::Kto) {
    out.mean_logits_chosen = f.mean_logits_chosen;
    out.mean_logits_rejected = f.mean_logits_rejected;
  }
  return out;
}

bool PreferenceTrainer::train(const std::function<void(const StepMetrics&)>& report) {
  if (!optimizer_) throw std::logic_error("PreferenceTrainer::train: an evaluator (EvaluationOnly) cannot train");
  if (method_traits(options_.method).needs_reference && !reference_ready_)
    throw std::logic_error("PreferenceTrainer::train: precompute_reference() first for this method");
  const int64_t total = total_steps();
  const int64_t ga = options_.gradient_accumulation_steps;
  // HF transformers' schedules (TRL's --lr_scheduler_type): warm-up from 0, cosine down to 0.
  core::LrSchedule schedule{options_.learning_rate,
                            options_.lr_scheduler_type,
                            options_.warmup_steps,
                            0,
                            /*lr_end: HF cosine decays to 0*/ 1e-300,
                            total,
                            /*warmup_from_zero=*/true};
  auto flush = [&] {
    if (window_steps_ == 0) return;
    for (auto& [k, v] : window_.values) v /= static_cast<double>(window_steps_);
    window_.step = step_;
    if (report) report(window_);
    window_.values.clear();
    window_steps_ = 0;
  };
  if (options_.method == Method::Kto && kto_desirable_.size() != pairs_.size())
    throw std::logic_error("PreferenceTrainer: --method kto needs use_kto_labels() before train()");
  const bool has_eval = static_cast<int64_t>(pairs_.size()) > num_train_;
  while (step_ < total) {
    if (options_.stop_after_steps > 0 && step_ >= options_.stop_after_steps) {
      // The logging window goes into the checkpoint: the resumed run logs what an uninterrupted one would.
      save_checkpoint();
      return false;
    }
    std::map<std::string, double> step_values;
    const bool kto = options_.method == Method::Kto;
    std::map<std::string, double> kto_sums;
    std::map<std::string, int64_t> kto_counts;
    const auto step_start = std::chrono::steady_clock::now();
    int64_t step_tokens = 0;  // non-padding tokens through the policy this step
    for (int64_t a = 0; a < ga; ++a) {
      const int64_t micro_batch = step_ * ga + a;
      const auto indices = batch_indices(micro_batch);
      // LoRA dropout draws from the global generator: seeding it per micro-batch makes a resumed
      // run draw the same masks as an uninterrupted one.
      if (lora_ && lora_->options().dropout > 0)
        torch::manual_seed(options_.seed * 1000003ull + 0x10a5ull + static_cast<uint64_t>(micro_batch));
      auto [result, logits_chosen, logits_rejected, tokens] = batch_loss(indices, /*count_selection=*/true);
      if (logits_chosen.defined()) {  // not for KTO, whose rejected half holds its KL sequences
        step_values["logits/chosen"] += logits_chosen.item<double>() / static_cast<double>(ga);
        step_values["logits/rejected"] += logits_rejected.item<double>() / static_cast<double>(ga);
      }
      step_tokens += tokens;
      const double loss_value = result.loss.item<double>();
      if (!std::isfinite(loss_value))
        throw InputError("the loss became " + std::to_string(loss_value) + " at step " + std::to_string(step_ + 1) +
                         ": training stopped (lower --learning-rate, or check the data); the last checkpoint is kept");
      (result.loss / static_cast<double>(ga)).backward();
      step_values["loss"] += loss_value / static_cast<double>(ga);
      for (const auto& [name, value] : result.metrics) {
        if (kto && name != "kl" && name != "rewards/margins") {
          // KTO's per-row metrics: a micro-batch may hold only one side; TRL pools them by count.
          kto_sums[name] += value.to(torch::kFloat64).sum().item<double>();
          kto_counts[name] += value.numel();
          continue;
        }
        if (kto && name == "rewards/margins") continue;  // from the pooled sides below
        step_values[name] += value.to(torch::kFloat64).mean().item<double>() / static_cast<double>(ga);
      }
    }
    for (const auto& [name, sum] : kto_sums)
      if (kto_counts[name] > 0) step_values[name] = sum / static_cast<double>(kto_counts[name]);
    if (step_values.count("rewards/chosen") && step_values.count("rewards/rejected") && kto)
      step_values["rewards/margins"] = step_values["rewards/chosen"] - step_values["rewards/rejected"];
    // Gradient norm (logged before clipping, as TRL/HF do) and clipping.
    const auto norm = core::clip_grad_norm(lora_ ? lora_->parameters() : policy_->parameters(), options_.max_grad_norm);
    const double grad_norm = norm.defined() ? norm.item<double>() : 0.0;
    const double lr = schedule.at(step_);
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
    optimizer_->step();
    optimizer_->zero_grad();
    ++step_;
    if (step_listener_) step_listener_(step_);
    step_values["grad_norm"] = grad_norm;
    step_values["tokens/s"] = static_cast<double>(step_tokens) /
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    step_values["lr"] = lr;
    for (const auto& [k, v] : step_values) window_.values[k] += v;
    ++window_steps_;
    if (options_.logging_steps > 0 && step_ % options_.logging_steps == 0) flush();
    if (options_.save_steps > 0 && step_ % options_.save_steps == 0 && step_ < total) save_checkpoint();
    if (has_eval && options_.eval_steps > 0 && step_ % options_.eval_steps == 0 && step_ < total && report)
      report({step_, evaluate()});
  }
  flush();
  if (has_eval && report) report({step_, evaluate()});
  return true;
}

void PreferenceTrainer::save_checkpoint() const {
  if (options_.output_dir.empty()) throw std::logic_error("PreferenceTrainer: checkpoints need output_dir");
  nlohmann::json state = {{"step", step_}, {"log_window", {{"steps", window_steps_}, {"sums", window_.values}}}};
  if (selection_.counts.defined()) {
    const auto c = selection_.counts.contiguous();
    state["fpo_selections"] = selection_.selections;
    state["fpo_selection_counts"] = std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  }
  core::CheckpointFolder(options_.output_dir).save(checkpoint_identity(), state, [&](const std::filesystem::path& tmp) {
    std::vector<std::pair<std::string, torch::Tensor>> weights;
    if (lora_) {
      for (const auto& [name, t] : lora_->named_parameters()) weights.emplace_back(name, t.detach().cpu().contiguous());
    } else {
      for (const auto& p : policy_->named_parameters())
        weights.emplace_back(p.key(), p.value().detach().cpu().contiguous());
    }
    lm::write_safetensors(tmp / "policy.safetensors", weights);
    core::write_file_with(tmp / "optimizer.pt",
                          [&](const core::ByteWriter& write) { torch::save(*optimizer_, write); });
  });
}

nlohmann::json PreferenceTrainer::checkpoint_identity() const {
  // What a resumed run must share with the run that wrote the checkpoint: everything that changes
  // the trajectory (docs/reliability.md lists it). Logging, saving and evaluation cadence may change.
  const auto& o = options_;
  const auto& l = o.loss;
  nlohmann::json identity = {{"method", method_name(o.method)},
                             {"seed", o.seed},
                             {"pairs", num_train_},
                             {"eval_pairs", static_cast<int64_t>(pairs_.size()) - num_train_},
                             {"total_steps", total_steps()},
                             {"optim", optimizer_name(o.optim)},
                             {"lora_r", lora_ ? lora_->options().r : 0},
                             {"learning_rate", o.learning_rate},
                             {"lr_scheduler_type", std::string(core::lr_scheduler_name(o.lr_scheduler_type))},
                             {"warmup_steps", o.warmup_steps},
                             {"weight_decay", o.weight_decay},
                             {"adam_beta1", o.adam_beta1},
                             {"adam_beta2", o.adam_beta2},
                             {"adam_epsilon", o.adam_epsilon},
                             {"per_device_train_batch_size", o.per_device_train_batch_size},
                             {"gradient_accumulation_steps", o.gradient_accumulation_steps},
                             {"max_grad_norm", o.max_grad_norm},
                             {"dtype", o.autocast_dtype ? std::string(c10::toString(*o.autocast_dtype))
                                                        : std::string("float32")},
                             {"beta", l.dpo.beta},
                             {"label_smoothing", l.dpo.label_smoothing},
                             {"simpo_beta", l.simpo.beta},
                             {"simpo_gamma_beta_ratio", l.simpo.gamma_beta_ratio},
                             {"simpo_sft_weight", l.simpo.sft_weight},
                             {"tdpo_beta", l.tdpo.beta},
                             {"tdpo_alpha", l.tdpo.alpha},
                             {"kto_beta", l.kto.beta},
                             {"desirable_weight", l.kto.desirable_weight},
                             {"undesirable_weight", l.kto.undesirable_weight},
                             {"orpo_lambda", l.orpo.lambda},
                             {"orpo_nll", std::string(orpo_nll_name(l.orpo.nll))},
                             {"fpo_beta", l.fpo.beta},
                             {"alpha", l.fpo.alpha},
                             {"fpo_topk", l.fpo.top_k},
                             {"fpo_variant", std::string(fpo_variant_name(l.fpo.variant))}};
  for (const auto& [key, value] : o.run_identity.items()) identity[key] = value;
  return identity;
}

void PreferenceTrainer::set_reference_values(ReferenceValues values) {
  if (reference_runs_online(options_))
    throw std::logic_error("this method runs its reference online (TDPO, FPO released): call precompute_reference()");
  if (values.chosen_sum.numel() != static_cast<int64_t>(pairs_.size()))
    throw InputError("the reference cache holds " + std::to_string(values.chosen_sum.numel()) +
                     " pairs but the data has " + std::to_string(pairs_.size()) + "; delete the cache to recompute it");
  if (options_.method == Method::Fpo && !values.chosen_pooled.defined())
    throw InputError(
        "the reference cache has no SAE features (it was made for another method); delete it to recompute it");
  reference_ = std::move(values);
  reference_ready_ = true;
}

bool PreferenceTrainer::has_checkpoint() const {
  return !options_.output_dir.empty() && core::CheckpointFolder(options_.output_dir).exists();
}

nlohmann::json PreferenceTrainer::check_checkpoint() const {
  return core::CheckpointFolder(options_.output_dir).load(checkpoint_identity()).state;
}

void PreferenceTrainer::resume() {
  const auto checkpoint = core::CheckpointFolder(options_.output_dir).load(checkpoint_identity());
  const auto& state = checkpoint.state;
  const auto& dir = checkpoint.folder;
  checkpoint.read_part("policy.safetensors", [&] {
    lm::SafetensorsFile weights(dir / "policy.safetensors");
    torch::NoGradGuard g;
    if (lora_) {
      for (auto& [name, t] : lora_->named_parameters()) t.copy_(weights.load(name));
    } else {
      for (auto& p : policy_->named_parameters()) p.value().copy_(weights.load(p.key()));
    }
  });
  checkpoint.read_part("optimizer.pt", [&] {
    torch::load(*optimizer_, (dir / "optimizer.pt").string());
    core::check_optimizer_state(*optimizer_);
  });
  checkpoint.read_part(core::CheckpointFolder::kStateFile, [&] {
    step_ = core::json_state_integer(state, "step");
    window_steps_ = core::json_state_integer(state.at("log_window"), "steps");
    window_.values = state.at("log_window").at("sums").get<std::map<std::string, double>>();
    if (state.contains("fpo_selection_counts")) {
      selection_.counts = torch::tensor(core::json_state_integer_list(state, "fpo_selection_counts"), torch::kInt64);
      selection_.selections = core::json_state_integer(state, "fpo_selections");
    }
  });
}

}  // namespace fpokit::fpo
