// fpokit sae eval: reconstruction and downstream metrics of an SAE (SAELens, sparsify or Gemma
// Scope files) spliced into its model. A table on stdout and a JSON file.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cli_vocabulary.h"
#include "commands.h"
#include "dataset_options.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/log/log.h"
#include "fpokit/core/log/progress_line.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/eval/sae_evaluation.h"
#include "fpokit/sae/io/sae_io.h"
#include "hub_names.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct SaeEvalArgs {
  ModelOptions model;
  std::string sae;
  std::string data;
  std::string hook;
  std::string out;
  sae::EvalOptions eval;
  bool no_model_metrics = false;
};

void run_sae_eval(SaeEvalArgs& a) {
  auto sae_module = sae::load_sae(a.sae);
  const auto hook_text = a.hook.empty() ? sae_module->config().hook_name : a.hook;
  if (hook_text.empty())
    throw InputError(a.sae + " does not say which hook it was trained on: give --hook, e.g. blocks.6.hook_resid_post");
  const auto hook = lm::HookName::parse(hook_text);
  const auto tokenizer = lm::Tokenizer::from_directory(a.model.model_dir);
  const auto model = lm::load_model(a.model.model_dir, a.model.load_options());
  model->eval();
  sae_module->to(model->parameters().front().device());
  sae_module->eval();
  a.eval.model_metrics = !a.no_model_metrics;
  core::ProgressLine progress("sae eval", a.eval.tokens);
  const auto result = sae::evaluate_sae(model, *tokenizer, *sae_module, hook, a.data, a.eval,
                                        [&](int64_t done) { progress.update(done); });
  progress.finish();
  std::cout << sae::eval_result_table(result);
  if (!a.out.empty()) {
    auto j = sae::eval_result_json(result);
    j["sae"] = a.sae;
    j["model"] = a.model.model_dir;
    j["data"] = a.data;
    core::write_text_file_atomically(a.out, j.dump(2) + "\n");
    core::log::info("wrote " + a.out);
  }
}

}  // namespace

void add_sae_eval_command(CLI::App& sae) {
  auto args = std::make_shared<SaeEvalArgs>();
  auto* cmd = sae.add_subcommand("eval", "Evaluate an SAE: L0, FVU, MSE, cosine, dead/dense, CE loss recovered, KL");
  add_example_on_default(cmd,
                         "fpokit sae eval --sae examples/demo/sae/blocks.1.hook_resid_post --model examples/demo/model "
                         "--data examples/demo/corpus_heldout.jsonl --tokens 16384 --out runs/tour/sae_eval.json");
  args->model.add_to(*cmd);
  accept_hub_name(cmd->add_option("--sae", args->sae, "SAE folder (SAELens or sparsify) or Gemma Scope params.npz"),
                  core::HubRepoType::Model)
      ->required()
      ->group("SAE");
  cmd->add_option("--hook", args->hook, "Hook to splice at (default: the one in the SAE's config)")->group("SAE");
  accept_hub_name(cmd->add_option("--data", args->data,
                                  "Text corpus: .jsonl, .jsonl.gz, .json, .parquet, a dataset folder, or plain text"),
                  core::HubRepoType::Dataset)
      ->required()
      ->group("Data");
  add_split_option(*cmd, args->eval.split);
  cmd->add_option("--text-field", args->eval.text_field, "Record field holding the text (JSON, Parquet)")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--tokens", args->eval.tokens, "Tokens to evaluate")->capture_default_str()->group("Data");
  cmd->add_option("--context-size", args->eval.context_size,
                  "Tokens per context row (0: the SAE's training context, else min(1024, the model's "
                  "max_position_embeddings))")
      ->capture_default_str()
      ->group("Data");
  deprecated_name(cmd->add_option("--model-batch-size,--batch-size", args->eval.batch_sequences,
                                  "Context rows per model forward")
                      ->capture_default_str()
                      ->group("Data"),
                  "batch-size");
  cmd->add_option("--dense-threshold", args->eval.dense_threshold, "A latent is dense above this firing rate")
      ->capture_default_str()
      ->group("Evaluation");
  cmd->add_flag("--no-model-metrics", args->no_model_metrics, "Skip CE/KL (one forward per batch instead of three)")
      ->group("Evaluation");
  cmd->add_option("--out", args->out, "Write the metrics as JSON to this file")->group("Output");
  cmd->callback([args] { run_sae_eval(*args); });
}

}  // namespace fpokit::cli
