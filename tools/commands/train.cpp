// fpokit train: preference optimisation (FPO, DPO family, SimPO, TDPO, ORPO, SFT) of a local HF
// model. Option names follow TRL where TRL has one.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "cli_vocabulary.h"
#include "commands.h"
#include "config_options.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/fpo/training/training_run.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct TrainArgs {
  // A run killed loses at most its last checkpoint interval: 500 steps by default, as HF Trainer.
  TrainArgs() { run.trainer.save_steps = 500; }
  fpo::PreferenceRunOptions run;
  std::string method = "dpo";
  std::string lr_scheduler_type = "linear";
  std::string truncation_mode = "keep_end";
  std::string fpo_variant = "paper";
  std::string orpo_nll = "sequence";
  std::string optim = "adamw_torch";
  lm::LoraOptions lora{.r = 0};
  std::vector<std::string> lora_targets{"q_proj", "v_proj"};
  int64_t max_length = 1024;
  int64_t max_prompt_length = 512;
  bool quiet = false;
  ModelOptions model;
  ConfigOptions config;
};

void add_options(CLI::App& cmd, TrainArgs& a) {
  auto& r = a.run;
  auto& t = r.trainer;
  auto& l = t.loss;
  a.model.add_to(cmd, {.model = "HuggingFace model directory to train", .group = "Models"});
  cmd.add_option("--ref-model", r.ref_model_dir, "Reference model directory (default: the starting model)")
      ->group("Models");

  cmd.add_option("--data", r.data,
                 "JSONL with prompt/chosen/rejected (kto: prompt/completion/label), strings or conversations")
      ->required()
      ->group("Data");
  cmd.add_option("--chat-template", r.chat_template, "chatml|llama-3|gemma|zephyr|plain (default: detected)")
      ->group("Data");
  cmd.add_option("--max-length", a.max_length, "Prompt + completion tokens")->capture_default_str()->group("Data");
  cmd.add_option("--max-prompt-length", a.max_prompt_length, "Prompt tokens")->capture_default_str()->group("Data");
  cmd.add_option("--truncation-mode", a.truncation_mode, "keep_end|keep_start (prompts)")
      ->capture_default_str()
      ->group("Data");

  std::string methods;
  for (const auto& m : fpo::all_methods()) methods += (methods.empty() ? "" : "|") + std::string(m.name);
  cmd.add_option("--method", a.method, methods)->capture_default_str()->group("Training");
  cmd.add_option("--learning-rate", t.learning_rate, "Peak learning rate")->capture_default_str()->group("Training");
  cmd.add_option("--optim", a.optim, "adamw_torch|rmsprop")->capture_default_str()->group("Training");
  cmd.add_option("--weight-decay", t.weight_decay, "Weight decay")->capture_default_str()->group("Training");
  cmd.add_option("--lr-scheduler-type", a.lr_scheduler_type, "constant|linear|cosine")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--warmup-steps", t.warmup_steps, "Linear warm-up steps")->capture_default_str()->group("Training");
  cmd.add_option("--max-steps", t.max_steps, "Optimizer steps (> 0 overrides --num-train-epochs)")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--num-train-epochs", t.num_train_epochs, "Epochs")->capture_default_str()->group("Training");
  cmd.add_option("--per-device-train-batch-size", t.per_device_train_batch_size, "Pairs per micro-batch")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--gradient-accumulation-steps", t.gradient_accumulation_steps, "Micro-batches per step")
      ->capture_default_str()
      ->group("Training");
  cmd.add_flag("--gradient-checkpointing", t.gradient_checkpointing,
               "Recompute each block's activations in the backward: less memory, ~1 more forward per step")
      ->group("Training");
  cmd.add_option("--max-grad-norm", t.max_grad_norm, "Gradient clipping (0: off)")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--seed", t.seed, "Seed for the batch order")->capture_default_str()->group("Training");

  cmd.add_option("--eval-data", r.eval_data, "Held-out JSONL evaluated during training (eval_* metrics)")
      ->group("Evaluation");
  cmd.add_option("--eval-split", r.eval_split, "Hold out this fraction of --data for evaluation instead (seeded)")
      ->capture_default_str()
      ->group("Evaluation");
  cmd.add_option("--eval-steps", t.eval_steps, "Evaluate every N steps (0: at the end only)")
      ->capture_default_str()
      ->group("Evaluation");
  cmd.add_option("--per-device-eval-batch-size", t.per_device_eval_batch_size, "Pairs per evaluation batch")
      ->capture_default_str()
      ->group("Evaluation");

  cmd.add_option("--beta", l.dpo.beta, "β of dpo/ipo/hinge/robust")->capture_default_str()->group("Loss");
  cmd.add_option("--label-smoothing", l.dpo.label_smoothing, "cDPO / robust ε")->capture_default_str()->group("Loss");
  cmd.add_option("--simpo-beta", l.simpo.beta, "SimPO β")->capture_default_str()->group("Loss");
  cmd.add_option("--simpo-gamma-beta-ratio", l.simpo.gamma_beta_ratio, "SimPO γ/β")
      ->capture_default_str()
      ->group("Loss");
  cmd.add_option("--simpo-sft-weight", l.simpo.sft_weight, "SimPO SFT term weight")
      ->capture_default_str()
      ->group("Loss");
  cmd.add_option("--tdpo-beta", l.tdpo.beta, "TDPO β")->capture_default_str()->group("Loss");
  cmd.add_option("--tdpo-alpha", l.tdpo.alpha, "TDPO2 α")->capture_default_str()->group("Loss");
  cmd.add_option("--kto-beta", l.kto.beta, "KTO β")->capture_default_str()->group("Loss");
  cmd.add_option("--desirable-weight", l.kto.desirable_weight, "KTO λ_D")->capture_default_str()->group("Loss");
  cmd.add_option("--undesirable-weight", l.kto.undesirable_weight, "KTO λ_U")->capture_default_str()->group("Loss");
  cmd.add_option("--orpo-lambda", l.orpo.lambda, "ORPO λ")->capture_default_str()->group("Loss");
  cmd.add_option("--orpo-nll", a.orpo_nll, "ORPO's NLL tokens: sequence (prompt and completion, as TRL) | completion")
      ->capture_default_str()
      ->group("Loss");

  cmd.add_option("--fpo-beta", l.fpo.beta, "FPO β")->capture_default_str()->group("FPO");
  cmd.add_option("--alpha", l.fpo.alpha, "FPO α (feature constraint weight)")->capture_default_str()->group("FPO");
  cmd.add_option("--fpo-topk", l.fpo.top_k, "FPO top-k features")->capture_default_str()->group("FPO");
  cmd.add_option("--fpo-variant", a.fpo_variant,
                 "paper | released (the authors' code: online reference, pooling by the padded length, topk(policy))")
      ->capture_default_str()
      ->group("FPO");
  cmd.add_option("--sae", r.sae, "FPO: SAE (fpokit/SAELens/sparsify folder or Gemma Scope params.npz)")->group("FPO");
  cmd.add_option("--fpo-hook", r.fpo_hook, "FPO: hook the SAE reads (default: the SAE's own)")->group("FPO");

  cmd.add_option("--lora-r", a.lora.r, "LoRA rank (0: train all weights)")->capture_default_str()->group("LoRA");
  cmd.add_option("--lora-alpha", a.lora.alpha, "LoRA alpha (the update is scaled by alpha/r)")
      ->capture_default_str()
      ->group("LoRA");
  cmd.add_option("--lora-dropout", a.lora.dropout, "LoRA dropout on the adapter input")
      ->capture_default_str()
      ->group("LoRA");
  cmd.add_option("--lora-targets", a.lora_targets, "Linear layers to adapt, by name (q_proj,k_proj,v_proj,o_proj,...)")
      ->delimiter(',')
      ->capture_default_str()
      ->group("LoRA");
  cmd.add_flag("--merge", r.merge_lora, "LoRA: also write <out>/model with the adapters merged in")->group("LoRA");

  cmd.add_option("--out,--output-dir", r.out, "Output folder (the trained model goes to <out>/model)")
      ->required()
      ->group("Output");
  cmd.add_option("--logging-steps", t.logging_steps, "Log every N steps")->capture_default_str()->group("Output");
  cmd.add_option("--save-steps", t.save_steps, "Checkpoint every N steps (0: only with --stop-after-steps)")
      ->capture_default_str()
      ->group("Output");
  cmd.add_option("--reference-cache", r.reference_cache, "Reference cache file (default <out>/reference_cache.h5)")
      ->group("Output");
  cmd.add_flag("--resume", r.resume, "Continue the run in --out from its newest checkpoint-<step>")
      ->configurable(false)
      ->group("Output");
  cmd.add_flag("--overwrite-output-dir", r.overwrite_output_dir,
               "Start afresh in an --out that holds an earlier run (without it, such an --out is refused)")
      ->configurable(false)
      ->group("Output");
  cmd.add_option("--stop-after-steps", t.stop_after_steps, "Stop (with a checkpoint) after N steps")
      ->configurable(false)
      ->group("Output");
  // Its own --quiet only hides the progress line (the data and eval lines stay); `fpokit --quiet
  // train` keeps warnings and errors only.
  cmd.add_flag("--quiet", a.quiet, "No progress line (fpokit --quiet before the command: warnings and errors only)")
      ->configurable(false)
      ->group("Output");
  a.config.add_to(cmd);
}

// An option of one method given with another is an error, never silently ignored (docs/methods.md,
// 'Options of other methods'): on the command line always; from a config file when its value is
// not the default (a dumped config lists every option with its value).
void refuse_options_of_other_methods(const CLI::App& cmd, fpo::Method method) {
  using fpo::Method;
  const std::vector<Method> dpo_family{Method::Dpo, Method::Ipo, Method::Hinge, Method::Robust};
  std::vector<Method> with_reference;
  for (const auto& m : fpo::all_methods())
    if (m.needs_reference) with_reference.push_back(m.method);
  const std::vector<std::pair<std::string, std::vector<Method>>> applies_to = {
      {"beta", dpo_family},
      {"label-smoothing", {Method::Dpo, Method::Robust}},
      {"simpo-beta", {Method::Simpo}},
      {"simpo-gamma-beta-ratio", {Method::Simpo}},
      {"simpo-sft-weight", {Method::Simpo}},
      {"tdpo-beta", {Method::Tdpo1, Method::Tdpo2}},
      {"tdpo-alpha", {Method::Tdpo2}},
      {"kto-beta", {Method::Kto}},
      {"desirable-weight", {Method::Kto}},
      {"undesirable-weight", {Method::Kto}},
      {"orpo-lambda", {Method::Orpo}},
      {"orpo-nll", {Method::Orpo}},
      {"fpo-beta", {Method::Fpo}},
      {"alpha", {Method::Fpo}},
      {"fpo-topk", {Method::Fpo}},
      {"fpo-variant", {Method::Fpo}},
      {"sae", {Method::Fpo}},
      {"fpo-hook", {Method::Fpo}},
      {"ref-model", with_reference},
      {"reference-cache", with_reference},
  };
  const std::string method_text(fpo::method_name(method));
  for (const auto& [name, methods] : applies_to) {
    if (std::find(methods.begin(), methods.end(), method) != methods.end()) continue;
    const auto* op = cmd.get_option_no_throw("--" + name);
    if (op == nullptr || op->count() == 0) continue;
    if (!given_on_command_line(name)) {
      const auto given = op->results().empty() ? std::string() : op->results().back();
      const auto& fallback = op->get_default_str();
      char* end_given = nullptr;
      char* end_default = nullptr;
      const double g = std::strtod(given.c_str(), &end_given), d = std::strtod(fallback.c_str(), &end_default);
      const bool numeric = !given.empty() && !fallback.empty() && *end_given == 0 && *end_default == 0;
      if (given == fallback || (numeric && g == d)) continue;  // a dumped default, not a choice
    }
    std::string for_methods;
    for (const auto m : methods) for_methods += (for_methods.empty() ? "" : ", ") + std::string(fpo::method_name(m));
    std::string hint;
    bool strength = false;  // some method's β
    for (const auto& m : fpo::all_methods()) strength = strength || m.strength_option == "--" + name;
    const auto own = fpo::method_traits(method).strength_option;
    if (strength && !own.empty()) hint = "; --method " + method_text + " takes its β from " + std::string(own);
    throw InputError("--" + name + " does not apply to --method " + method_text + " (it is for " + for_methods + ")" +
                     hint + "; remove it");
  }
}

void run_train(TrainArgs& a, const CLI::App& cmd) {
  // Before --dump-config: a configuration that would be refused is not printed as if it were valid.
  refuse_options_of_other_methods(cmd, fpo::parse_method(a.method));
  if (a.config.dumped(cmd)) return;
  a.run.model_dir = a.model.model_dir;
  a.run.device = a.model.device;
  a.run.dtype = a.model.dtype;
  a.run.trainer.method = fpo::parse_method(a.method);
  a.run.trainer.lr_scheduler_type = core::parse_lr_scheduler(a.lr_scheduler_type);
  a.run.trainer.loss.fpo.variant = fpo::parse_fpo_variant(a.fpo_variant);
  a.run.trainer.loss.orpo.nll = fpo::parse_orpo_nll(a.orpo_nll);
  a.run.trainer.optim = fpo::parse_optimizer(a.optim);
  if (a.lora.r < 0) throw InputError("--lora-r must be 0 (no LoRA) or a positive rank");
  if (a.lora.r > 0) {
    a.run.lora = a.lora;
    a.run.lora->targets = a.lora_targets;
  } else if (a.run.merge_lora) {
    throw InputError("--merge needs a LoRA run (--lora-r R)");
  }
  a.run.tokenization.max_length = a.max_length;
  a.run.tokenization.max_prompt_length = a.max_prompt_length;
  a.run.tokenization.truncation_mode = fpo::parse_truncation_mode(a.truncation_mode);
  a.run.progress = !a.quiet;
  const auto out = a.run.out;
  a.run.before_first_write = [&] { ConfigOptions::save(cmd, out / "config.toml"); };
  if (!fpo::run_preference_training(a.run)) {
    core::log::info("stopped after " + std::to_string(a.run.trainer.stop_after_steps) + " steps (checkpoint in " +
                    out.string() + "); continue with --resume");
    return;
  }
  core::log::info("outputs in " + out.string() + ": " + (a.run.lora ? "adapter/" : "model/") +
                  (a.run.merge_lora ? ", model/" : "") + ", metrics.jsonl, config.toml");
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train",
                                 "Preference-optimise a model: FPO, DPO/IPO/hinge/robust, SimPO, TDPO, KTO, ORPO, SFT");
  add_options(*cmd, *args);
  cmd->callback([args, cmd] { run_train(*args, *cmd); });
}

}  // namespace fpokit::cli
