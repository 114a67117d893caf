// fpokit train: preference optimisation (FPO, DPO family, SimPO, TDPO, ORPO, SFT) of a local HF
// model. Option names follow TRL where TRL has one.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>

#include "cli_vocabulary.h"
#include "commands.h"
#include "config_options.h"
#include "dataset_options.h"
#include "fpokit/analysis/drift/drift_timeline_recorder.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/fpo/training/training_run.h"
#include "hub_names.h"
#include "method_options.h"
#include "model_options.h"
#include "report_to_option.h"

namespace fpokit::cli {

namespace {

struct TrainArgs {
  // A run killed loses at most its last checkpoint interval: 500 steps by default, as HF Trainer.
  TrainArgs() {
    run.trainer.save_steps = 500;
    lora.r = 0;  // full fine-tuning unless --lora-r
  }
  fpo::PreferenceRunOptions run;
  std::string lr_scheduler_type = "linear";
  std::string truncation_mode = "keep_end";
  std::string optim = "adamw_torch";
  std::string report_to = "none";
  lm::LoraOptions lora;
  std::vector<std::string> lora_targets{"q_proj", "v_proj"};
  int64_t max_length = 1024;
  int64_t max_prompt_length = 512;
  bool quiet = false;
  // --drift-every: the drift timeline (analysis/drift/drift_timeline_recorder.h).
  analysis::DriftTimelineOptions drift;
  ModelOptions model;
  MethodOptions methods;
  ConfigOptions config;
};

void add_options(CLI::App& cmd, TrainArgs& a) {
  auto& r = a.run;
  auto& t = r.trainer;
  auto& l = t.loss;
  a.model.add_to(cmd, {.model = "HuggingFace model directory to train", .group = "Models"});
  accept_hub_name(cmd.add_option("--ref-model", r.ref_model_dir,
                                 "Reference model directory (default: the starting model)"),
                  core::HubRepoType::Model)
      ->group("Models");

  accept_hub_name(cmd.add_option("--data", r.data,
                                 "Preference data (.jsonl, .jsonl.gz, .json, .parquet, or a dataset folder) with "
                                 "prompt/chosen/rejected (kto: prompt/completion/label), strings or conversations"),
                  core::HubRepoType::Dataset)
      ->required()
      ->group("Data");
  add_split_option(cmd, r.split);
  add_preference_field_options(cmd, r.fields, /*unpaired_and_text=*/true);
  cmd.add_option("--chat-template", r.chat_template,
                 "model (the model's own Jinja template, the default when it has one) | chatml | llama-3 | gemma | "
                 "zephyr | plain | FILE.jinja")
      ->group("Data");
  cmd.add_option("--max-length", a.max_length, "Prompt + completion tokens")->capture_default_str()->group("Data");
  cmd.add_flag(
         "--packing", r.packing,
         "sft on plain text: pack the {\"text\"} rows into rows of --max-length tokens, as SAELens packs a corpus")
      ->group("Data");
  cmd.add_option("--max-prompt-length", a.max_prompt_length, "Prompt tokens")->capture_default_str()->group("Data");
  cmd.add_option("--truncation-mode", a.truncation_mode, "keep_end|keep_start (prompts)")
      ->capture_default_str()
      ->group("Data");

  a.methods.add_method_option(cmd, "Training");
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
  cmd.add_option("--logits-chunk-size", t.logits_chunk_size,
                 "Positions per chunk of the log-prob head: only completion positions reach the LM head, and "
                 "no [pairs, seq, vocab] logits exist (0: full logits, the PyTorch loop's layout)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--share-prompt", t.share_prompt,
                 "Run each pair's common prompt once, both completions attending to it (same results as "
                 "two full sequences for fewer tokens; false: two full sequences)")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--max-grad-norm", t.max_grad_norm, "Gradient clipping (0: off)")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--seed", t.seed, "Seed for the batch order")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group("Training");

  add_split_option(cmd, r.eval_data_split, "--eval-data-split", "--eval-data");
  cmd.add_option("--eval-data", r.eval_data,
                 "Held-out preference data (a file or a dataset folder) evaluated during training (eval_* metrics)")
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

  a.methods.add_loss_options(cmd, l);

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

  auto& d = a.drift;
  cmd.add_option("--drift-every", d.every,
                 "Drift timeline: every N steps (and at 0 and the end) the policy's SAE feature drift against "
                 "the starting model, into <out>/drift_timeline.h5 (0: off)")
      ->capture_default_str()
      ->group("Drift timeline");
  cmd.add_option("--drift-data", d.data,
                 "Tokens the snapshots measure: text corpus or preference JSONL, as drift --data")
      ->group("Drift timeline");
  cmd.add_option("--drift-tokens", d.tokens, "Tokens to analyse per snapshot")
      ->capture_default_str()
      ->group("Drift timeline");
  cmd.add_option("--drift-sae", d.sae, "SAE of the snapshots (default: an FPO run's --sae)")->group("Drift timeline");
  cmd.add_option("--drift-hook", d.hook, "Hook of the snapshots (default: the SAE's own)")->group("Drift timeline");
  cmd.add_option("--drift-batch-size", d.batch_size, "Sequences per snapshot forward")
      ->capture_default_str()
      ->group("Drift timeline");
  cmd.add_option("--drift-context-size", d.context_size, "Text --drift-data: tokens per context row")
      ->capture_default_str()
      ->group("Drift timeline");

  cmd.add_option("--out,--output-dir", r.out, "Output folder (the trained model goes to <out>/model)")
      ->required()
      ->group("Output");
  cmd.add_option("--logging-steps", t.logging_steps, "Log every N steps")->capture_default_str()->group("Output");
  add_report_to(cmd, a.report_to);
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

void run_train(TrainArgs& a, const CLI::App& cmd) {
  // Before --dump-config: a configuration that would be refused is not printed as if it were valid.
  a.run.trainer.method = a.methods.resolve(a.run.trainer.loss);
  refuse_options_of_other_methods(cmd, a.run.trainer.method);
  a.run.trainer.validate();
  if (a.lora.r > 0) a.lora.validate();
  if (a.lora.r == 0) {
    for (const char* name : {"lora-alpha", "lora-dropout", "lora-targets"})
      if (option_chosen(cmd, name))
        throw InputError(std::string("--") + name + " applies to LoRA runs: give --lora-r R too, or remove it");
  }
  if (a.drift.every == 0)
    for (const char* name :
         {"drift-data", "drift-tokens", "drift-sae", "drift-hook", "drift-batch-size", "drift-context-size"})
      if (option_chosen(cmd, name))
        throw InputError(std::string("--") + name +
                         " applies to the drift timeline: give --drift-every N too, or remove it");
  if (a.config.dumped(cmd)) return;
  a.run.model_dir = a.model.model_dir;
  a.run.device = a.model.device;
  a.run.dtype = a.model.dtype;
  a.run.trainer.lr_scheduler_type = core::parse_lr_scheduler(a.lr_scheduler_type);
  a.run.trainer.optim = fpo::parse_optimizer(a.optim);
  if (a.lora.r < 0) throw InputError("--lora-r must be 0 (no LoRA) or a positive rank");
  if (a.lora.r > 0) {
    a.run.lora = a.lora;
    a.run.lora->targets = a.lora_targets;
  } else if (a.run.merge_lora) {
    throw InputError("--merge needs a LoRA run (--lora-r R)");
  }
  a.run.sae = a.methods.sae;
  a.run.fpo_hook = a.methods.fpo_hook;
  a.run.tokenization.max_length = a.max_length;
  a.run.tokenization.max_prompt_length = a.max_prompt_length;
  a.run.tokenization.truncation_mode = fpo::parse_truncation_mode(a.truncation_mode);
  a.run.progress = !a.quiet;
  a.run.report_to_tensorboard = a.report_to == "tensorboard";
  const auto out = a.run.out;
  std::optional<analysis::DriftTimelineRecorder> timeline;
  if (a.drift.every != 0) {
    auto d = a.drift;
    if (d.sae.empty() && fpo::method_traits(a.run.trainer.method).needs_sae) {
      d.sae = a.run.sae;
      if (d.hook.empty()) d.hook = a.run.fpo_hook;
    }
    d.max_length = a.max_length;
    d.fields = {a.run.fields.prompt, a.run.fields.chosen, a.run.fields.rejected};
    if (d.data == a.run.data) d.split = a.run.split;
    if (!a.run.chat_template.empty()) d.chat_template = a.run.chat_template;
    timeline.emplace(d, a.run.model_dir, out);
    core::log::info("drift timeline: every " + std::to_string(d.every) + " steps at " +
                    timeline->timeline().settings.hook + " into " + timeline->timeline_path().string());
    a.run.observe_policy = [&](lm::CausalLMImpl& policy, int64_t step, int64_t total) {
      timeline->observe(policy, step, total);
    };
  }
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
  add_example_on_default(cmd,
                         "fpokit train --method dpo --model examples/demo/model --data examples/demo/prefs_train.jsonl "
                         "--learning-rate 3e-5 --lr-scheduler-type constant --max-steps 16 --out runs/tour/dpo");
  add_options(*cmd, *args);
  cmd->callback([args, cmd] { run_train(*args, *cmd); });
}

}  // namespace fpokit::cli
