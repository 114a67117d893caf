// fpokit eval-prefs: reward accuracy and margins of a trained model against its reference on
// held-out preference pairs (fpo/preference_eval.h).
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/log/log.h"
#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/preference_dataset.h"
#include "fpokit/fpo/eval/preference_eval.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct EvalPrefsArgs {
  ModelOptions model;
  std::string ref_model;
  std::string adapter;
  std::string data;
  std::string chat_template;
  std::string out;
  double beta = 0.1;
  int64_t batch_size = 8;
  int64_t max_length = 1024;
  int64_t max_prompt_length = 512;
};

void run_eval_prefs(const EvalPrefsArgs& a) {
  if (a.ref_model.empty()) throw InputError("--ref-model is required: the model the rewards are measured against");
  const auto tokenizer = lm::Tokenizer::from_directory(a.model.model_dir);
  fpo::PreferenceDataOptions data_options;
  if (!a.chat_template.empty()) {
    data_options.chat_template.emplace(fpo::parse_chat_template(a.chat_template),
                                       fpo::chat_template_tokens(*tokenizer));
  } else if (const auto detected = fpo::detect_chat_template(a.model.model_dir)) {
    data_options.chat_template.emplace(*detected, fpo::chat_template_tokens(*tokenizer));
  }
  fpo::PreferenceTokenizerOptions tok;
  tok.max_length = a.max_length;
  tok.max_prompt_length = a.max_prompt_length;
  auto data = fpo::tokenize_preference_data(fpo::read_preference_jsonl(a.data, data_options), *tokenizer, tok);
  core::log::info("data: " + data.stats.summary());
  if (data.pairs.empty()) throw InputError("no usable pairs in " + a.data);
  auto model = lm::load_model(a.model.model_dir, a.model.load_options());
  if (!a.adapter.empty()) lm::LoraAdapters::load_peft(*model, a.adapter);  // the layers keep the adapters
  auto reference = lm::load_model(a.ref_model, a.model.load_options());
  const auto r = fpo::evaluate_preferences(*model, *reference, data.pairs, a.beta, a.batch_size,
                                           fpo::padding_token_id(*tokenizer));
  std::cout << fpo::preference_eval_table(r);
  if (!a.out.empty()) {
    core::write_text_file_atomically(a.out, fpo::preference_eval_json(r).dump(2) + "\n");
    core::log::info("wrote " + a.out);
  }
}

}  // namespace

void add_eval_prefs_command(CLI::App& app) {
  auto args = std::make_shared<EvalPrefsArgs>();
  auto* cmd = app.add_subcommand("eval-prefs", "Reward accuracy and margins of a trained model against its reference");
  args->model.add_to(*cmd, {.group = "Models"});
  cmd->add_option("--ref-model", args->ref_model, "Reference model directory (e.g. the model before training)")
      ->required()
      ->group("Models");
  cmd->add_option("--adapter", args->adapter, "PEFT LoRA adapter on top of --model (e.g. <train out>/adapter)")
      ->group("Models");
  cmd->add_option("--data", args->data, "Held-out JSONL pairs")->required()->group("Data");
  cmd->add_option("--chat-template", args->chat_template, "chatml|llama-3|gemma|zephyr|plain (default: detected)")
      ->group("Data");
  cmd->add_option("--max-length", args->max_length, "Prompt + completion tokens")->capture_default_str()->group("Data");
  cmd->add_option("--max-prompt-length", args->max_prompt_length, "Prompt tokens")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--batch-size", args->batch_size, "Pairs per forward")->capture_default_str()->group("Data");
  cmd->add_option("--beta", args->beta, "β of the implicit reward")->capture_default_str()->group("Evaluation");
  cmd->add_option("--out", args->out, "Write the results as JSON")->group("Output");
  cmd->callback([args] { run_eval_prefs(*args); });
}

}  // namespace fpokit::cli
