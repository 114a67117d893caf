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
  if (features) {
    j["sae"] = core::content_fingerprint(o.sae);
    j["fpo_hook"] = o.fpo_hook;
    j["fpo_variant"] = fpo_variant_name(o.trainer.loss.fpo.variant);
  }
  return j.dump();
}

}  // namespace fpokit::fpo
