#include "fpokit/fpo/data/preference_tokenizer.h"

#include <algorithm>
#include <stdexcept>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/lm/tokenizer/tokenizer.h"

namespace fpokit::fpo {

// A sequence before truncation.
struct detail::SplitSequence {
  std::vector<int64_t> prompt;      // BOS included
  std::vector<int64_t> completion;  // EOS included
};

namespace {

using Split = detail::SplitSequence;

TokenizedSequence to_sequence(const Split& s) {
  TokenizedSequence out;
  out.input_ids = s.prompt;
  out.input_ids.insert(out.input_ids.end(), s.completion.begin(), s.completion.end());
  out.completion_mask.assign(s.prompt.size(), 0);
  out.completion_mask.resize(out.input_ids.size(), 1);
  return out;
}

}  // namespace

struct PreferenceTokenizer::Prompt {
  std::string text;
  std::vector<int64_t> ids;  // encode(text) without special tokens
  bool add_bos = false;
};

TruncationMode parse_truncation_mode(std::string_view name) {
  if (name == "keep_end") return TruncationMode::kKeepEnd;
  if (name == "keep_start") return TruncationMode::kKeepStart;
  throw ConfigError("unknown truncation mode \"" + std::string(name) + "\"; choose keep_end or keep_start");
}

std::string PreferenceDataStats::summary() const {
  return std::to_string(examples) + " examples, " + std::to_string(kept) + " kept; truncated: " +
         std::to_string(prompts_truncated) + " prompts, " + std::to_string(completions_truncated) +
         " completions; dropped: " + std::to_string(dropped_prompt_too_long) + " (prompt too long), " +
         std::to_string(dropped_empty_completion) + " (empty completion); " + std::to_string(boundary_mismatches) +
         " prompt/completion boundary mismatches; EOS appended to " + std::to_string(eos_appended) + " sequences";
}

PreferenceTokenizer::PreferenceTokenizer(const lm::Tokenizer& tokenizer, PreferenceTokenizerOptions options)
    : tokenizer_(tokenizer), options_(options) {
  if (options_.max_length && *options_.max_length < 2)
    throw ConfigError("max_length " + std::to_string(*options_.max_length) +
                      " leaves no room for a prompt and a completion; use at least 2");
  if (options_.max_prompt_length && *options_.max_prompt_length < 1)
    throw ConfigError("max_prompt_length " + std::to_string(*options_.max_prompt_length) + " must be at least 1");
  // Whether the tokenizer adds BOS is spread over tokenizer_config.json's add_bos_token and
  // tokenizer.json's post-processor; asking the tokenizer itself is the one reliable source.
  const auto bos = tokenizer_.bos_id();
  if (bos) {
    const auto with = tokenizer_.encode("x", true);
    const auto without = tokenizer_.encode("x", false);
    adds_bos_ = with.size() > without.size() && with.front() == *bos && (without.empty() || without.front() != *bos);
  }
}

PreferenceTokenizer::Prompt PreferenceTokenizer::encode_prompt(const PromptText& prompt) {
  Prompt p{prompt.text, tokenizer_.encode(prompt.text, false), false};
  const auto bos = tokenizer_.bos_id();
  const bool ids_start_with_bos = bos && !p.ids.empty() && p.ids.front() == *bos;
  p.add_bos = adds_bos_ && !prompt.has_bos && !ids_start_with_bos;
  return p;
}

bool PreferenceTokenizer::ends_turn(int64_t id, const std::string& end_of_turn) {
  const auto& eos = tokenizer_.eos_ids();
  if (std::find(eos.begin(), eos.end(), id) != eos.end()) return true;
  if (end_of_turn.empty()) return false;
  auto it = end_of_turn_ids_.find(end_of_turn);
  if (it == end_of_turn_ids_.end()) it = end_of_turn_ids_.emplace(end_of_turn, tokenizer_.token_to_id(end_of_turn)).first;
  return it->second && *it->second == id;
}

std::vector<int64_t> PreferenceTokenizer::encode_joint(const Prompt& prompt, const std::string& completion,
                                                       size_t& common, int64_t index, int64_t line) {
  auto joint = tokenizer_.encode(prompt.text + completion, false);
  const auto limit = std::min(joint.size(), prompt.ids.size());
  common = static_cast<size_t>(std::mismatch(prompt.ids.begin(), prompt.ids.begin() + static_cast<std::ptrdiff_t>(limit),
                                             joint.begin())
                                   .first -
                               prompt.ids.begin());
  if (common < prompt.ids.size()) {
    ++stats_.boundary_mismatches;
    if (!warned_boundary_) {
      warned_boundary_ = true;
      core::log::warning("preference example " + std::to_string(index) + " (line " + std::to_string(line) +
                         "): the tokens of prompt+completion do not start with the prompt's tokens (a merge across the "
                         "boundary, often a prompt ending in a space); the completion starts where they agree; further "
                         "cases are only counted in the data stats");
    }
  }
  return joint;
}

std::optional<detail::SplitSequence> PreferenceTokenizer::make_split(const Prompt& prompt,
                                                                    const std::vector<int64_t>& joint, size_t k,
                                                                    const std::string& end_of_turn) {
  if (joint.size() <= k) return std::nullopt;
  Split s;
  if (prompt.add_bos) s.prompt.push_back(*tokenizer_.bos_id());
  s.prompt.insert(s.prompt.end(), joint.begin(), joint.begin() + static_cast<std::ptrdiff_t>(k));
  s.completion.assign(joint.begin() + static_cast<std::ptrdiff_t>(k), joint.end());
  if (!ends_turn(s.completion.back(), end_of_turn)) {
    if (tokenizer_.eos_ids().empty())
      throw TokenizerError("the tokenizer has no EOS token to end completions with; set eos_token in tokenizer_config.json");
    s.completion.push_back(tokenizer_.eos_ids().front());
    ++stats_.eos_appended;
  }
  return s;
}

namespace {

// Cuts the prompt to max_prompt_length (keeping a leading BOS); true if it was cut.
bool truncate_prompt(std::vector<int64_t>& p, const PreferenceTokenizerOptions& o, std::optional<int64_t> bos) {
  if (!o.max_prompt_length || static_cast<int64_t>(p.size()) <= *o.max_prompt_length) return false;
  const int64_t lead = bos && !p.empty() && p.front() == *bos ? 1 : 0;
  const int64_t keep = std::max<int64_t>(*o.max_prompt_length - lead, 0);
  const auto body = p.begin() + lead;
  if (o.truncation_mode == TruncationMode::kKeepEnd)
    p.erase(body, p.end() - keep);
  else
    p.erase(body + keep, p.end());
  return true;
}

// Cuts the completion to what fits after the prompt in max_length; true if it was cut.
bool fit_completion(Split& s, const PreferenceTokenizerOptions& o) {
  if (!o.max_length) return false;
  const auto room = *o.max_length - static_cast<int64_t>(s.prompt.size());
  if (static_cast<int64_t>(s.completion.size()) <= room) return false;
  s.completion.resize(static_cast<size_t>(std::max<int64_t>(room, 0)));
  return true;
}

}  // namespace

std::optional<TokenizedPair> PreferenceTokenizer::tokenize(const PreferenceExample& example, int64_t index) {
  ++stats_.examples;
  const auto prompt = encode_prompt(example.prompt);
  size_t common_chosen = 0, common_rejected = 0;
  const auto joint_chosen = encode_joint(prompt, example.chosen, common_chosen, index, example.line);
  const auto joint_rejected = encode_joint(prompt, example.rejected, common_rejected, index, example.line);
  // One boundary for both: the prompt tokens stay identical and both completions start at the
  // same character.
  const size_t k = std::min(common_chosen, common_rejected);
  auto chosen = make_split(prompt, joint_chosen, k, example.end_of_turn);
  auto rejected = make_split(prompt, joint_rejected, k, example.end_of_turn);
  if (!chosen || !rejected) {
    ++stats_.dropped_empty_completion;
    return std::nullopt;
  }
  const bool cut = truncate_prompt(chosen->prompt, options_, tokenizer_.bos_id());
  truncate_prompt(rejected->prompt, options_, tokenizer_.bos_id());
  stats_.prompts_truncated += cut ? 1 : 0;
  if (options_.max_length && static_cast<int64_t>(chosen->prompt.size()) >= *options_.max_length) {
    ++stats_.dropped_prompt_too_long;
    return std::nullopt;
  }
  stats_.completions_truncated += fit_completion(*chosen, options_) + fit_completion(*rejected, options_);
  ++stats_.kept;
  return TokenizedPair{to_sequence(*chosen), to_sequence(*rejected), static_cast<int64_t>(chosen->prompt.size()),
                       example.line};
}

std::optional<TokenizedKto> PreferenceTokenizer::tokenize(const KtoExample& example, int64_t index) {
  ++stats_.examples;
  const auto prompt = encode_prompt(example.prompt);
  size_t common = 0;
  const auto joint = encode_joint(prompt, example.completion, common, index, example.line);
  auto s = make_split(prompt, joint, common, example.end_of_turn);
  if (!s) {
    ++stats_.dropped_empty_completion;
    return std::nullopt;
  }
  stats_.prompts_truncated += truncate_prompt(s->prompt, options_, tokenizer_.bos_id()) ? 1 : 0;
  if (options_.max_length && static_cast<int64_t>(s->prompt.size()) >= *options_.max_length) {
    ++stats_.dropped_prompt_too_long;
    return std::nullopt;
  }
  stats_.completions_truncated += fit_completion(*s, options_);
  ++stats_.kept;
  return TokenizedKto{to_sequence(*s), static_cast<int64_t>(s->prompt.size()), example.desirable, example.line};
}

TokenizedPreferenceData tokenize_preference_data(const std::vector<PreferenceExample>& examples,
                                                 const lm::Tokenizer& tokenizer,
                                                 const PreferenceTokenizerOptions& options) {
  PreferenceTokenizer pt(tokenizer, options);
  TokenizedPreferenceData out;
  for (size_t i = 0; i < examples.size(); ++i)
    if (auto p = pt.tokenize(examples[i], static_cast<int64_t>(i))) out.pairs.push_back(std::move(*p));
  out.stats = pt.stats();
  return out;
}

TokenizedKtoData tokenize_kto_data(const std::vector<KtoExample>& examples, const lm::Tokenizer& tokenizer,
                                   const PreferenceTokenizerOptions& options) {
  PreferenceTokenizer pt(tokenizer, options);
  TokenizedKtoData out;
  for (size_t i = 0; i < examples.size(); ++i)
    if (auto k = pt.tokenize(examples[i], static_cast<int64_t>(i))) out.examples.push_back(std::move(*k));
  out.stats = pt.stats();
  return out;
}

int64_t padding_token_id(const lm::Tokenizer& tokenizer) {
  if (tokenizer.pad_id()) return *tokenizer.pad_id();
  if (!tokenizer.eos_ids().empty()) return tokenizer.eos_ids().front();
  return 0;
}

PreferenceBatch collate_sequences(const std::vector<const TokenizedSequence*>& sequences, int64_t pad_id) {
  if (sequences.empty()) throw std::invalid_argument("collate_sequences: empty batch");
  size_t T = 0;
  for (const auto* s : sequences) T = std::max(T, s->input_ids.size());
  const auto N = static_cast<int64_t>(sequences.size());
  const auto opts = torch::TensorOptions().dtype(torch::kInt64);
  PreferenceBatch b{torch::full({N, static_cast<int64_t>(T)}, pad_id, opts), torch::zeros({N, static_cast<int64_t>(T)}, opts),
                    torch::zeros({N, static_cast<int64_t>(T)}, opts)};
  auto ids = b.input_ids.accessor<int64_t, 2>();
  auto att = b.attention_mask.accessor<int64_t, 2>();
  auto cm = b.completion_mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < N; ++i) {
    const auto& s = *sequences[static_cast<size_t>(i)];
    for (size_t t = 0; t < s.input_ids.size(); ++t) {
      ids[i][static_cast<int64_t>(t)] = s.input_ids[t];
      att[i][static_cast<int64_t>(t)] = 1;
      cm[i][static_cast<int64_t>(t)] = s.completion_mask[t];
    }
  }
  return b;
}

PreferenceBatch collate_preference_pairs(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id) {
  if (pairs.empty()) throw std::invalid_argument("collate_preference_pairs: empty batch");
  std::vector<const TokenizedSequence*> rows;
  rows.reserve(2 * pairs.size());
  for (const auto* p : pairs) rows.push_back(&p->chosen);
  for (const auto* p : pairs) rows.push_back(&p->rejected);
  return collate_sequences(rows, pad_id);
}

}  // namespace fpokit::fpo
