// fpokit acts cache: harvest a model's activations at one or more hooks into an HDF5 file for
// offline SAE training (`fpokit sae train --acts FILE.h5`).
#include <memory>
#include <string>

#include "commands.h"
#include "dataset_options.h"
#include "fpokit/core/io/output_location.h"
#include "fpokit/core/log/log.h"
#include "fpokit/core/log/progress_line.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/activation_cache.h"
#include "hub_names.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct ActsCacheArgs {
  ModelOptions model;
  std::vector<std::string> hooks;
  std::string data;
  std::string out;
  bool overwrite_output = false;
  sae::HarvestOptions harvest;
  sae::ActivationCacheOptions cache;
};

void run_acts_cache(ActsCacheArgs& a) {
  core::check_output_location(a.out, core::OutputKind::File, {.resume = false, .overwrite = a.overwrite_output});
  std::vector<lm::HookName> hooks;
  for (const auto& h : a.hooks) hooks.push_back(lm::HookName::parse(h));
  std::shared_ptr<const lm::Tokenizer> tokenizer = lm::Tokenizer::from_directory(a.model.model_dir);
  const auto model = lm::load_model(a.model.model_dir, a.model.load_options());
  model->eval();
  sae::HarvestingSource source(model, tokenizer, hooks, a.data, a.harvest);
  a.cache.model_name = a.model.model_dir;
  core::ProgressLine progress("acts cache", a.cache.tokens);
  const auto rows = sae::cache_activations(source, a.out, a.cache, [&](int64_t n) { progress.update(n); });
  progress.finish();
  if (rows < a.cache.tokens)
    core::log::warning(a.data + " ran out after " + std::to_string(rows) + " tokens, fewer than the " +
                       std::to_string(a.cache.tokens) +
                       " asked (--tokens); the cache holds those (acts cache never repeats the corpus)");
  core::log::info("wrote " + std::to_string(rows) + " tokens (" + std::to_string(source.tokens_excluded()) +
                  " special or outlier tokens excluded) to " + a.out);
}

}  // namespace

void add_acts_command(CLI::App& app) {
  auto* acts = app.add_subcommand("acts", "Activation caches");
  acts->require_subcommand(1);
  auto args = std::make_shared<ActsCacheArgs>();
  auto* cmd = acts->add_subcommand("cache", "Harvest activations at hooks into an HDF5 file (streaming)");
  add_example_on_default(cmd,
                         "fpokit acts cache --model examples/demo/model --data examples/demo/corpus.jsonl --hook "
                         "blocks.1.hook_resid_post --context-size 128 --tokens 65536 --out runs/tour/acts.h5");
  args->model.add_to(*cmd);
  cmd->add_option("--hook", args->hooks, "Hook(s), e.g. blocks.6.hook_resid_post")->required()->group("Model");
  accept_hub_name(cmd->add_option("--data", args->data,
                                  "Text corpus: .jsonl, .jsonl.gz, .json, .parquet, a dataset folder, or plain text"),
                  core::HubRepoType::Dataset)
      ->required()
      ->group("Data");
  add_split_option(*cmd, args->harvest.split);
  cmd->add_option("--text-field", args->harvest.text_field, "Record field holding the text (JSON, Parquet)")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--tokens", args->cache.tokens, "Tokens to write")->required()->group("Data");
  cmd->add_option("--context-size", args->harvest.context_size,
                  "Tokens per context row (0: min(1024, the model's max_position_embeddings))")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--model-batch-size", args->harvest.batch_sequences, "Context rows per model forward")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--exclude-norm-multiple", args->harvest.exclude_norm_multiple,
                  "Drop tokens whose norm exceeds this multiple of the batch median (0: keep all)")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--storage-dtype", args->cache.storage_dtype, "float32 or bfloat16")
      ->capture_default_str()
      ->group("Output");
  cmd->add_option("--out", args->out, "Output .h5 file")->required()->group("Output");
  cmd->add_flag("--overwrite-output-dir", args->overwrite_output, "Replace an existing --out file")->group("Output");
  cmd->callback([args] { run_acts_cache(*args); });
}

}  // namespace fpokit::cli
