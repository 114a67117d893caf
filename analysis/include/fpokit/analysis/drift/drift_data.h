#pragma once
// The token sequences a drift run feeds to every model (teacher forcing: identical ids, so every
// position is paired), with each position's group:
//   text corpus (.jsonl/.txt): context rows packed as `sae train` packs them (ContextPacker); the
//     row-start/separator tokens and special tokens are Excluded, the rest Text; one row = one
//     sequence unit for the bootstrap.
//   preference file (prompt/chosen/rejected): per pair two sequences, tokenised as `fpokit train`
//     does (chat template, BOS/EOS); prompt positions of the chosen sequence are Prompt, its
//     completion Chosen; the rejected sequence's completion is Rejected and its prompt positions
//     are PromptRepeat (the same activations again: a causal model sees the same prefix) so that no
//     token counts twice. Both sequences of a pair share one unit id: the pair is the bootstrap unit.
// Special tokens (BOS, chat-control tokens the tokenizer marks special) are Excluded everywhere.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fpokit/fpo/data/preference_fields.h"

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::analysis {

enum class TokenGroup : uint8_t { Excluded = 0, Text = 1, Prompt = 2, Chosen = 3, Rejected = 4, PromptRepeat = 5 };

struct DriftSequence {
  std::vector<int64_t> ids;
  std::vector<TokenGroup> groups;  // one per id
  int64_t unit = 0;                // bootstrap unit (row, or pair)
  int64_t source_line = 0;         // line of the data file it came from (preference data), or the row index
};

struct DriftData {
  std::string kind;                      // "text" or "preference"
  std::vector<DriftSequence> sequences;  // in unit order; the two sequences of a pair are adjacent
  int64_t tokens = 0;                    // positions not Excluded
  int64_t units = 0;
  std::string summary;  // one line for the log (pairs kept/dropped, rows)
};

struct DriftDataOptions {
  std::string kind = "auto";  // auto | text | preference
  std::string text_field = "text";
  std::string split;             // a dataset folder's split (--split); empty for a file
  fpo::PreferenceFields fields;  // preference data: --prompt-field, --chosen-field, ...
  std::string chat_template = "auto";
  int64_t tokens = 65536;  // stop after the unit that reaches this many analysed tokens
  int64_t context_size = 128;
  int64_t max_length = 512;
};

// "preference" when the first record (of the file, or of the folder's split) has the chosen and
// rejected fields, else "text".
std::string detect_data_kind(const std::filesystem::path& data, const std::string& split = "",
                             const fpo::PreferenceFields& fields = {});

// Throws InputError naming the file when it yields no token (empty, or too short for one row).
DriftData read_drift_data(const std::filesystem::path& data, const lm::Tokenizer& tokenizer,
                          const std::filesystem::path& tokenizer_dir, const DriftDataOptions& options);

}  // namespace fpokit::analysis
