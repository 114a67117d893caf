#include "fpokit/fpo/training/run_inputs.h"

#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/kto_pairs.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/context_packer.h"
#include "fpokit/sae/data/text_dataset.h"
#include "fpokit/sae/io/sae_io.h"

namespace fpokit::fpo {

PreferenceDataOptions preference_data_options(std::string& name, const std::string& model_dir,
                                              const lm::Tokenizer& tokenizer) {
  PreferenceDataOptions options;
  options.chat_template = select_chat_template(name, model_dir, tokenizer);
  return options;
}

LoadedPairs load_pairs(const std::string& path, Method method, const PreferenceDataOptions& data_options,
                       const lm::Tokenizer& tokenizer, const PreferenceTokenizerOptions& tokenization,
                       int64_t kto_block, const std::string& what) {
  LoadedPairs out;
  PreferenceDataStats stats;
  const bool kto = method_traits(method).unpaired_labels;
  if (kto) {
    auto data = tokenize_kto_data(read_kto_data(path, data_options), tokenizer, tokenization);
    if (!data.examples.empty()) {
      auto kp = kto_training_pairs(data.examples, kto_block);
      out.pairs = std::move(kp.pairs);
      out.kto_labels = std::move(kp.desirable);
    }
    stats = data.stats;
  } else {
    auto examples =
        method == Method::Sft ? read_sft_data(path, data_options) : read_preference_data(path, data_options);
    auto data = tokenize_preference_data(std::move(examples), tokenizer, tokenization);
    out.pairs = std::move(data.pairs);
    stats = data.stats;
  }
  core::log::info(what + "data: " + stats.summary());
  if (out.pairs.empty())
    throw InputError("no usable " + std::string(kto ? "examples" : "pairs") + " in " + path + " (" + stats.summary() +
                     ")");
  return out;
}

LoadedPairs load_packed_text(const std::string& path, const std::string& split, const std::string& text_field,
                             const lm::Tokenizer& tokenizer, int64_t row_length, const std::string& what) {
  sae::TextDataset dataset(path, text_field, split);
  sae::ContextPacker packer(dataset, tokenizer, row_length);
  LoadedPairs out;
  int64_t tokens = 0;
  for (;;) {
    const int64_t line = packer.position().line + 1;  // the line the row starts in
    auto row = packer.next_row();
    if (!row) break;
    TokenizedPair p;
    p.chosen.completion_mask.assign(row->size(), 1);
    p.chosen.completion_mask[0] = 0;  // the row-start separator is context, never a target
    p.chosen.input_ids = std::move(*row);
    p.rejected = p.chosen;  // one sequence: the trainer forwards it once (chosen_only)
    p.prompt_length = 1;
    p.line = line;
    tokens += static_cast<int64_t>(p.chosen.input_ids.size());
    out.pairs.push_back(std::move(p));
  }
  core::log::info(what + "data: " + std::to_string(out.pairs.size()) + " packed rows of " + std::to_string(row_length) +
                  " tokens (" + std::to_string(tokens) + " tokens; the partial last row is dropped)");
  if (out.pairs.empty())
    throw InputError(path + ": holds fewer than " + std::to_string(row_length) +
                     " tokens, not one packed row (--packing): give more text or a smaller --max-length");
  return out;
}

void check_pairs_fit(const std::vector<TokenizedPair>& pairs, const lm::ModelConfig& config) {
  // --max-length is a cap, not a length: what must fit the model is the longest sequence it lets through.
  for (const auto& p : pairs) {
    const auto longest = static_cast<int64_t>(std::max(p.chosen.input_ids.size(), p.rejected.input_ids.size()));
    if (config.max_position_embeddings > 0 && longest > config.max_position_embeddings)
      throw InputError("line " + std::to_string(p.line) + " of the data has a sequence of " + std::to_string(longest) +
                       " tokens after truncation to --max-length, longer than the model's max_position_embeddings (" +
                       std::to_string(config.max_position_embeddings) + ", " + config.source.string() +
                       "): give --max-length " + std::to_string(config.max_position_embeddings) + " or less");
  }
}

LoadedProbe load_feature_probe(const std::string& sae_path, std::string& hook_text, const lm::CausalLMImpl& policy,
                               const std::string& model_dir, torch::Device device, FpoVariant variant) {
  LoadedProbe out;
  out.sae = sae::load_sae(sae_path);
  if (hook_text.empty()) hook_text = out.sae->config().hook_name;
  if (hook_text.empty()) throw InputError(sae_path + " does not say which hook it was trained on: give --fpo-hook");
  const auto hook = lm::HookName::parse(hook_text);
  lm::Hooks check;
  check.capture(hook);
  check.validate(policy.config(), policy.has_resid_mid());
  if (out.sae->config().d_in != policy.config().hidden_size)
    throw InputError("the SAE " + sae_path + " has d_in " + std::to_string(out.sae->config().d_in) + " but " +
                     hook_text + " of " + model_dir + " is " + std::to_string(policy.config().hidden_size) +
                     " wide: it was trained on another model");
  out.sae->to(device);
  out.sae->eval();
  for (auto& p : out.sae->parameters()) p.set_requires_grad(false);
  out.probe = {out.sae.get(), hook, variant};
  return out;
}

}  // namespace fpokit::fpo
