#include "fpokit/analysis/drift/drift_data.h"

#include "fpokit/core/dataset/dataset_split.h"
#include "fpokit/core/dataset/record_reader.h"
#include "fpokit/core/errors.h"
#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/preference_dataset.h"
#include "fpokit/fpo/data/preference_tokenizer.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/context_packer.h"
#include "fpokit/sae/data/text_dataset.h"

namespace fpokit::analysis {

namespace fs = std::filesystem;

namespace {

int64_t count_analysed(const DriftSequence& s) {
  int64_t n = 0;
  for (const auto g : s.groups) n += (g != TokenGroup::Excluded && g != TokenGroup::PromptRepeat) ? 1 : 0;
  return n;
}

DriftData read_text(const fs::path& path, const lm::Tokenizer& tokenizer, const DriftDataOptions& o) {
  if (o.context_size < 2) throw InputError("--context-size must be at least 2, got " + std::to_string(o.context_size));
  sae::TextDataset dataset(path, o.text_field, o.split);
  sae::ContextPacker packer(dataset, tokenizer, o.context_size);
  DriftData d;
  d.kind = "text";
  while (d.tokens < o.tokens) {
    auto row = packer.next_row();
    if (!row) break;
    DriftSequence s;
    s.ids = std::move(*row);
    s.groups.resize(s.ids.size(), TokenGroup::Text);
    for (size_t i = 0; i < s.ids.size(); ++i)
      if (s.ids[i] == packer.separator_id() || tokenizer.is_special(s.ids[i])) s.groups[i] = TokenGroup::Excluded;
    s.unit = d.units++;
    s.source_line = s.unit;
    d.tokens += count_analysed(s);
    d.sequences.push_back(std::move(s));
  }
  d.summary = std::to_string(d.units) + " context rows of " + std::to_string(o.context_size) + " tokens";
  return d;
}

DriftData read_preferences(const fs::path& path, const lm::Tokenizer& tokenizer, const fs::path& tokenizer_dir,
                           const DriftDataOptions& o) {
  fpo::PreferenceDataOptions data_options;
  std::string chat_template = o.chat_template;
  data_options.chat_template = fpo::select_chat_template(chat_template, tokenizer_dir, tokenizer);
  fpo::PreferenceTokenizerOptions tokenization;
  tokenization.max_length = o.max_length;
  tokenization.max_prompt_length = o.max_length / 2;
  data_options.fields = o.fields;
  data_options.split = o.split;
  const auto examples = fpo::read_preference_data(path, data_options);
  const auto tokenized = fpo::tokenize_preference_data(examples, tokenizer, tokenization);
  DriftData d;
  d.kind = "preference";
  for (const auto& pair : tokenized.pairs) {
    if (d.tokens >= o.tokens) break;
    const int64_t unit = d.units++;
    auto make = [&](const fpo::TokenizedSequence& seq, bool chosen) {
      DriftSequence s;
      s.ids = seq.input_ids;
      s.groups.resize(s.ids.size());
      for (size_t i = 0; i < s.ids.size(); ++i) {
        const bool completion = seq.completion_mask[i] != 0;
        TokenGroup g = completion ? (chosen ? TokenGroup::Chosen : TokenGroup::Rejected)
                                  : (chosen ? TokenGroup::Prompt : TokenGroup::PromptRepeat);
        // BOS, chat-control tokens and a completion's closing EOS/end-of-turn: not text.
        if (tokenizer.is_special(s.ids[i])) g = TokenGroup::Excluded;
        s.groups[i] = g;
      }
      s.unit = unit;
      s.source_line = pair.line;
      return s;
    };
    d.sequences.push_back(make(pair.chosen, true));
    d.sequences.push_back(make(pair.rejected, false));
    d.tokens += count_analysed(d.sequences[d.sequences.size() - 2]) + count_analysed(d.sequences.back());
  }
  d.summary = std::to_string(d.units) + " preference pairs (" + tokenized.stats.summary() + ")";
  return d;
}

}  // namespace

std::string detect_data_kind(const fs::path& data, const std::string& split, const fpo::PreferenceFields& fields) {
  std::error_code ec;
  if (!core::is_record_file(data) && !fs::is_directory(data, ec)) return "text";
  // The first record decides (any dataset format, a file or a folder's split).
  const auto reader = core::open_dataset(data, split);
  const auto first = reader->next();
  return first && first->value.contains(fields.chosen) && first->value.contains(fields.rejected) ? "preference"
                                                                                                 : "text";
}

DriftData read_drift_data(const fs::path& data, const lm::Tokenizer& tokenizer, const fs::path& tokenizer_dir,
                          const DriftDataOptions& options) {
  std::error_code ec;
  if (!fs::is_regular_file(data, ec) && !fs::is_directory(data, ec))
    throw InputError(data.string() + ": no such data file or dataset folder (--data)");
  if (options.tokens < 1) throw InputError("--tokens must be positive, got " + std::to_string(options.tokens));
  std::string kind = options.kind;
  if (kind == "auto") kind = detect_data_kind(data, options.split, options.fields);
  DriftData d;
  if (kind == "text") {
    d = read_text(data, tokenizer, options);
  } else if (kind == "preference") {
    d = read_preferences(data, tokenizer, tokenizer_dir, options);
  } else {
    throw InputError("--data-kind must be auto, text or preference, got '" + kind + "'");
  }
  if (d.tokens == 0)
    throw InputError(data.string() + ": yields no token to analyse (empty, or shorter than one context row of " +
                     std::to_string(options.context_size) + " tokens?)");
  return d;
}

}  // namespace fpokit::analysis
