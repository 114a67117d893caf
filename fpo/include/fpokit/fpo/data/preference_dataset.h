#pragma once
// Preference (DPO family, FPO) and unpaired (KTO) training data, one record per example, from any
// dataset file core::open_record_reader reads (JSON lines, also gzip-compressed, JSON arrays,
// Parquet; other fields are ignored), turned into prompt and completion TEXT;
// preference_tokenizer.h turns the text into token ids.
//
// Pairs, in TRL's dataset formats:
//   standard        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
//   implicit prompt {"chosen": "Q: hi A: yes", "rejected": "Q: hi A: no"} (HH-RLHF): the prompt
//                   is the common prefix, as TRL's extract_prompt cuts it ("Q: hi A:", " yes",
//                   " no"); for conversations, the messages both lists share (below)
//   conversational  {"chosen": [msgs..., {"role": "assistant", ...}], "rejected": [...]}
//                   the prompt is every message but the last, which both lists must share; the
//                   last message, an assistant reply, is the completion;
//                   {"prompt": [msgs...], "chosen": {"role": "assistant", ...} | [msgs...] | "text",
//                    "rejected": ...}: the prompt messages followed by each completion's.
// KTO rows: {"prompt": ..., "completion": ..., "label": true|false}, the same shapes with one
// completion.
//
// Rendering rules:
//  - Conversational rows need a chat template (PreferenceDataOptions::chat_template). The prompt
//    text is render(prompt messages, add_generation_prompt=true); the completion is what
//    render(prompt + reply) adds after it, cut after the template's end-of-turn text (e.g.
//    "...<|im_end|>" without the "\n" the template writes before the next turn: generation stops
//    at the end-of-turn token, so the newline is never the model's to produce).
//  - All-string rows are used as they are when no template is given (TRL's standard format: the
//    prompt and completion texts are concatenated, so put the space in " blue."). With a template,
//    the prompt string becomes one user turn and each completion string the assistant's reply.
//  - A string prompt next to completion LISTS whose first message is not the assistant's (the
//    HuggingFaceH4/ultrafeedback_binarized layout, where the lists repeat the prompt) is ignored,
//    as TRL's maybe_extract_prompt does; otherwise it becomes the first user turn.
//
// Fields are looked up under PreferenceFields' names. Every error is an InputError whose one-line
// message starts with the record's place ("FILE:LINE:", "FILE: row N:") and names the field.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/preference_fields.h"

namespace fpokit::fpo {

struct PreferenceDataOptions {
  std::optional<ChatTemplate> chat_template;
  PreferenceFields fields;
  // A dataset folder's split (--split; core/dataset/dataset_split.h); empty for a file.
  std::string split;
};

// What a prompt or completion text carries besides its characters, for the tokenizer.
struct PromptText {
  std::string text;
  bool has_bos = false;  // the text starts with the BOS token written out (llama-3, gemma templates)
};

struct PreferenceExample {
  PromptText prompt;
  std::string chosen;
  std::string rejected;
  // The template's end-of-turn text when the completions were rendered by a chat template: they
  // end with it and get no extra EOS (the doubled "<|im_end|><|im_end|>" of TRL issue #4481).
  // Empty for raw strings, which get the tokenizer's EOS appended.
  std::string end_of_turn;
  int64_t line = 0;  // 1-based line (JSON lines) or record number in the file
};

struct KtoExample {
  PromptText prompt;
  std::string completion;
  bool desirable = true;  // "label"
  std::string end_of_turn;
  int64_t line = 0;
};

// Throw InputError naming FILE:LINE and the field for a line that is not a JSON object, a missing
// or mistyped field, an empty completion, conversational rows without a chat template, or chosen
// and rejected conversations that differ before their last message.
std::vector<PreferenceExample> read_preference_data(const std::filesystem::path& path,
                                                    const PreferenceDataOptions& options = {});
// --method sft: a row is plain text, {"text": "..."} (language modelling: every token after the BOS
// is a target; no chat template applies), or a preference row, whose chosen completion is the
// target. A text row becomes an example with an empty prompt and the text on both sides (the
// trainer forwards the chosen side only for SFT).
std::vector<PreferenceExample> read_sft_data(const std::filesystem::path& path,
                                             const PreferenceDataOptions& options = {});
std::vector<KtoExample> read_kto_data(const std::filesystem::path& path, const PreferenceDataOptions& options = {});

}  // namespace fpokit::fpo
