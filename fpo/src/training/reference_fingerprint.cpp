#include "fpokit/fpo/training/reference_fingerprint.h"

#include <nlohmann/json.hpp>

#include "fpokit/core/io/content_fingerprint.h"

namespace fpokit::fpo {

namespace fs = std::filesystem;

namespace {

// The files a tokenizer is read from (lm/tokenizer), whichever exist.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json",
                                           "tokenizer.model",
                                           "tokenizer_config.json",
                                           "special_tokens_map.json",
                                           "added_tokens.json",
                                           "chat_template.jinja",
                                           "vocab.json",
                                           "merges.txt"};

}  // namespace

nlohmann::json data_selection_identity(const PreferenceRunOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  if (!o.split.empty()) j["data_split"] = o.split;
  if (!o.eval_data_split.empty()) j["eval_data_split"] = o.eval_data_split;
  const PreferenceFields defaults;
  nlohmann::json fields = nlohmann::json::object();
  const auto note = [&](const char* role, const std::string& value, const std::string& fallback) {
    if (value != fallback) fields[role] = value;
  };
  note("prompt", o.fields.prompt, defaults.prompt);
  note("chosen", o.fields.chosen, defaults.chosen);
  note("rejected", o.fields.rejected, defaults.rejected);
  note("completion", o.fields.completion, defaults.completion);
  note("label", o.fields.label, defaults.label);
  note("text", o.fields.text, defaults.text);
  if (!fields.empty()) j["fields"] = fields;
  if (!o.chat_template_date.empty()) j["chat_template_date"] = o.chat_template_date;
  // --chat-template FILE.jinja: its content, not just its name.
  std::error_code ec;
  if (o.chat_template.ends_with(".jinja") && fs::is_regular_file(o.chat_template, ec))
    j["chat_template_file"] = core::content_fingerprint(o.chat_template);
  return j;
}

std::string reference_fingerprint(const PreferenceRunOptions& o, const std::string& reference_dir, bool features) {
  nlohmann::json tokenizer = nlohmann::json::object();
  for (const char* name : kTokenizerFiles) {
    const auto p = fs::path(o.model_dir) / name;
    std::error_code ec;
    if (fs::exists(p, ec)) tokenizer[name] = core::content_fingerprint(p);
  }
  const auto& t = o.tokenization;
  nlohmann::json j = {{"reference_model", core::content_fingerprint(reference_dir, /*recursive=*/false)},
                      {"tokenizer", tokenizer},
                      {"data", core::content_fingerprint(o.data)},
                      {"chat_template", o.chat_template},
                      {"max_length", t.max_length ? *t.max_length : -1},
                      {"max_prompt_length", t.max_prompt_length ? *t.max_prompt_length : -1},
                      {"truncation_mode", t.truncation_mode == TruncationMode::kKeepEnd ? "keep_end" : "keep_start"},
                      {"dtype", o.dtype}};
  // KTO's KL sequences pair each prompt with a completion from its block of this many examples.
  if (o.trainer.method == Method::Kto) j["kto_block"] = o.trainer.per_device_train_batch_size;
  // The cache holds the eval pairs' reference values after the training pairs'.
  if (!o.eval_data.empty()) j["eval_data"] = core::content_fingerprint(o.eval_data);
  if (o.eval_split > 0) j["eval_split"] = {o.eval_split, o.trainer.seed};
  j.update(data_selection_identity(o));
  if (features) {
    j["sae"] = core::content_fingerprint(o.sae);
    j["fpo_hook"] = o.fpo_hook;
    j["fpo_variant"] = fpo_variant_name(o.trainer.loss.fpo.variant);
  }
  return j.dump();
}

}  // namespace fpokit::fpo
