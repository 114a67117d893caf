// fpokit eval-prefs: reward accuracy and margins of a trained model on held-out preference pairs,
// with the chosen method's own implicit reward (fpo/eval/preference_eval.h).
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "dataset_options.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/log/log.h"
#include "fpokit/fpo/eval/preference_eval.h"
#include "hub_names.h"
#include "method_options.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct EvalPrefsArgs {
  ModelOptions model;
  MethodOptions methods;
  fpo::PreferenceEvalOptions eval;
  std::string truncation_mode = "keep_end";
  int64_t max_length = 1024;
  int64_t max_prompt_length = 512;
  std::string out;
};

void run_eval_prefs(EvalPrefsArgs& a, const CLI::App& cmd) {
  auto& e = a.eval;
  e.method = a.methods.resolve(e.loss);
  refuse_options_of_other_methods(cmd, e.method);
  e.model_dir = a.model.model_dir;
  e.device = a.model.device;
  e.dtype = a.model.dtype;
  e.sae = a.methods.sae;
  e.fpo_hook = a.methods.fpo_hook;
  e.tokenization.max_length = a.max_length;
  e.tokenization.max_prompt_length = a.max_prompt_length;
  e.tokenization.truncation_mode = fpo::parse_truncation_mode(a.truncation_mode);
  core::log::info("rewards of --method " + std::string(fpo::method_name(e.method)) + ": " +
                  fpo::reward_definition(e.method));
  const auto r = fpo::evaluate_preference_data(e);
  std::cout << fpo::preference_eval_table(r);
  if (!a.out.empty()) {
    core::write_text_file_atomically(a.out, fpo::preference_eval_json(r).dump(2) + "\n");
    core::log::info("wrote " + a.out);
  }
}

}  // namespace

void add_eval_prefs_command(CLI::App& app) {
  auto args = std::make_shared<EvalPrefsArgs>();
  auto& e = args->eval;
  auto* cmd = app.add_subcommand(
      "eval-prefs", "Reward accuracy and margins of a trained model on held-out pairs, with its method's own reward");
  add_example_on_default(cmd,
                         "fpokit eval-prefs --method dpo --model runs/tour/dpo/model --ref-model examples/demo/model "
                         "--data examples/demo/prefs_heldout.jsonl --out runs/tour/dpo_heldout.json");
  args->model.add_to(*cmd, {.group = "Models"});
  accept_hub_name(cmd->add_option("--ref-model", e.ref_model_dir,
                                  "Reference model directory (the model before training); methods with a reference"),
                  core::HubRepoType::Model)
      ->group("Models");
  cmd->add_option("--adapter", e.adapter, "PEFT LoRA adapter on top of --model (e.g. <train out>/adapter)")
      ->group("Models");
  accept_hub_name(cmd->add_option("--data", e.data,
                                  "Held-out preference data (.jsonl, .jsonl.gz, .json, .parquet, or a dataset "
                                  "folder; prompt/chosen/rejected; kto: prompt/completion/label)"),
                  core::HubRepoType::Dataset)
      ->required()
      ->group("Data");
  add_split_option(*cmd, e.split);
  add_preference_field_options(*cmd, e.fields, /*unpaired_and_text=*/true);
  cmd->add_option("--chat-template", e.chat_template,
                  "model (the model's own Jinja template, the default when it has one) | chatml | llama-3 | gemma | "
                  "zephyr | plain | FILE.jinja")
      ->group("Data");
  cmd->add_option("--max-length", args->max_length, "Prompt + completion tokens")->capture_default_str()->group("Data");
  cmd->add_option("--max-prompt-length", args->max_prompt_length, "Prompt tokens")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--truncation-mode", args->truncation_mode, "keep_end|keep_start (prompts)")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--batch-size", e.batch_size, "Pairs per forward")->capture_default_str()->group("Data");
  cmd->add_option("--logits-chunk-size", e.logits_chunk_size,
                  "Positions per chunk of the log-prob head (no [pairs, seq, vocab] logits); 0: full logits")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--share-prompt", e.share_prompt,
                  "Run each pair's common prompt once for both completions (false: two full sequences)")
      ->capture_default_str()
      ->group("Data");
  args->methods.add_method_option(*cmd, "Loss");
  args->methods.add_loss_options(*cmd, e.loss);
  cmd->add_option("--out", args->out, "Write the results as JSON")->group("Output");
  cmd->callback([args, cmd] { run_eval_prefs(*args, *cmd); });
}

}  // namespace fpokit::cli
