#pragma once
// Token ids of preference / KTO examples: prompt + completion tokenised JOINTLY and split at the
// prompt's token count, with BOS, EOS and truncation handled once, here, and every truncation and
// drop counted for the trainer's report.
//
// Per sequence (TRL HEAD, and the pitfalls of docs/methods.md, 'Tokenisation pitfalls'):
//  1. prompt_ids = encode(prompt), joint = encode(prompt + completion), both without the
//     tokenizer's special tokens; the completion is joint[len(prompt_ids):]. When joint does not
//     start with prompt_ids (a merge across the boundary, e.g. a prompt ending in a space with a
//     byte-level BPE: "Answer: " + "4" gives "Answer", ":", " 4"), the case is counted and warned
//     about once on stderr (TRL issues #2054, #1960), the sequence stays the true joint
//     tokenisation, and the boundary moves back to the last position where joint and prompt_ids
//     agree (TRL HEAD would slice at len(prompt_ids) and lose " 4" from the completion; SimPO
//     and TRL <= 0.11 move back one token). A pair uses the smaller boundary of its two
//     sequences, so both keep identical prompt tokens and completions starting at the same
//     character.
//  2. BOS: prepended when the tokenizer adds one with add_special_tokens (tokenizer_config.json
//     add_bos_token / the post-processor; probed once), unless the prompt text already starts with
//     it (llama-3 and gemma templates write it), so never twice.
//  3. EOS: the tokenizer's first EOS id is appended to the completion unless its last token is
//     already an EOS id or the chat template's end-of-turn token (no "<|im_end|><|im_end|>").
//  4. Truncation, all lengths in tokens including BOS and EOS:
//     - a prompt longer than max_prompt_length is cut to it, keeping its end (keep_end, TRL's
//       legacy default: the text nearest the reply matters most) or its start (keep_start); a
//       leading BOS is always kept;
//     - a prompt that still leaves no room under max_length (>= max_length tokens) drops the
//       example (TRL HEAD's rule for keep_start; applied to both modes, as nothing of the
//       completion would remain);
//     - a completion that does not fit in max_length - prompt is cut, keeping its start (the EOS
//       may be cut off; the loss then simply has no stop token for that sequence).
//  5. A pair is kept only if both its sequences are.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "fpokit/fpo/data/preference_dataset.h"

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::fpo {

enum class TruncationMode { kKeepEnd, kKeepStart };

// "keep_end" or "keep_start"; throws ConfigError listing them.
TruncationMode parse_truncation_mode(std::string_view name);

struct PreferenceTokenizerOptions {
  std::optional<int64_t> max_length = 1024;        // prompt + completion; nullopt = no limit
  std::optional<int64_t> max_prompt_length = 512;  // nullopt = no limit
  TruncationMode truncation_mode = TruncationMode::kKeepEnd;
};

struct TokenizedSequence {
  std::vector<int64_t> input_ids;        // [BOS] prompt completion [EOS]
  std::vector<int64_t> completion_mask;  // 1 on the completion tokens (EOS included), 0 on the prompt
};

struct TokenizedPair {
  TokenizedSequence chosen;
  TokenizedSequence rejected;
  int64_t prompt_length = 0;  // tokens before the completion in both sequences, BOS included
  int64_t line = 0;           // the example's line in its JSONL file
};

struct TokenizedKto {
  TokenizedSequence sequence;
  int64_t prompt_length = 0;
  bool desirable = true;
  int64_t line = 0;
};

// What happened to the examples, for the trainer to report. Sequence counts count chosen and
// rejected separately.
struct PreferenceDataStats {
  int64_t examples = 0;                 // examples seen
  int64_t kept = 0;                     // examples returned
  int64_t prompts_truncated = 0;        // examples whose prompt was cut to max_prompt_length
  int64_t completions_truncated = 0;    // sequences whose completion was cut to fit max_length
  int64_t dropped_prompt_too_long = 0;  // examples whose prompt left no room under max_length
  int64_t dropped_empty_completion = 0; // examples with a completion of no tokens (merged into the prompt)
  int64_t boundary_mismatches = 0;      // sequences whose joint tokens do not start with the prompt's
  int64_t eos_appended = 0;             // sequences that got the tokenizer's EOS appended

  // One line: "N examples, K kept; ... truncated; ... dropped; ... boundary mismatches".
  std::string summary() const;
};

namespace detail {
struct SplitSequence;  // preference_tokenizer.cpp
}

class PreferenceTokenizer {
 public:
  // Throws ConfigError for max_length < 2 or max_prompt_length < 1. The tokenizer must outlive
  // this object.
  explicit PreferenceTokenizer(const lm::Tokenizer& tokenizer, PreferenceTokenizerOptions options = {});

  // nullopt when the example is dropped (counted in stats()). `index` is the example's position
  // in its dataset, used in the one-time boundary warning. Throws TokenizerError when an EOS must
  // be appended and the tokenizer has none.
  std::optional<TokenizedPair> tokenize(const PreferenceExample& example, int64_t index);
  std::optional<TokenizedKto> tokenize(const KtoExample& example, int64_t index);

  const PreferenceDataStats& stats() const { return stats_; }
  bool adds_bos() const { return adds_bos_; }  // the tokenizer adds BOS with add_special_tokens

 private:
  struct Prompt;
  Prompt encode_prompt(const PromptText& prompt);
  // encode(prompt + completion); `common` = how many leading ids agree with the prompt's (counts
  // and warns on a boundary mismatch).
  std::vector<int64_t> encode_joint(const Prompt& prompt, const std::string& completion, size_t& common, int64_t index,
                                    int64_t line);
  // [BOS] joint[:k] | joint[k:] [EOS]; nullopt when joint[k:] is empty.
  std::optional<detail::SplitSequence> make_split(const Prompt& prompt, const std::vector<int64_t>& joint, size_t k,
                                                  const std::string& end_of_turn);
  // Whether `id` closes a completion: an EOS id or the end-of-turn token.
  bool ends_turn(int64_t id, const std::string& end_of_turn);

  const lm::Tokenizer& tokenizer_;
  PreferenceTokenizerOptions options_;
  bool adds_bos_ = false;
  bool warned_boundary_ = false;
  PreferenceDataStats stats_;
  std::unordered_map<std::string, std::optional<int64_t>> end_of_turn_ids_;
};

struct TokenizedPreferenceData {
  std::vector<TokenizedPair> pairs;
  PreferenceDataStats stats;
};
TokenizedPreferenceData tokenize_preference_data(const std::vector<PreferenceExample>& examples,
                                                 const lm::Tokenizer& tokenizer,
                                                 const PreferenceTokenizerOptions& options = {});

struct TokenizedKtoData {
  std::vector<TokenizedKto> examples;
  PreferenceDataStats stats;
};
TokenizedKtoData tokenize_kto_data(const std::vector<KtoExample>& examples, const lm::Tokenizer& tokenizer,
                                   const PreferenceTokenizerOptions& options = {});

// The id padding is filled with: the tokenizer's pad token, else its first EOS, else 0. Padding
// never matters to the losses (attention_mask and completion_mask are 0 there).
int64_t padding_token_id(const lm::Tokenizer& tokenizer);

// Right-padded int64 tensors of equal shape; attention_mask is 1 on real tokens.
struct PreferenceBatch {
  torch::Tensor input_ids;        // [N, T]
  torch::Tensor attention_mask;   // [N, T]
  torch::Tensor completion_mask;  // [N, T]
};

// The rows [chosen_0 .. chosen_{B-1} ; rejected_0 .. rejected_{B-1}] (N = 2B), the layout every
// loss splits with [:B] / [B:]. Throws std::invalid_argument for an empty batch.
PreferenceBatch collate_preference_pairs(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id);
// Any sequences in the given order (KTO batches, evaluation). Throws std::invalid_argument for
// an empty batch.
PreferenceBatch collate_sequences(const std::vector<const TokenizedSequence*>& sequences, int64_t pad_id);

}  // namespace fpokit::fpo
