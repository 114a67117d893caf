#pragma once
// tokenizer.json's "pre_tokenizer" for byte-level BPE: ByteLevel (optionally with GPT-2's regex
// and a prefix space), Split with a regex and the Isolated behaviour (Llama-3, Qwen2), and
// Sequence. Each step applies to every current piece of the text, as in HF tokenizers, so that
// e.g. ByteLevel's add_prefix_space acts on each piece between added tokens.
#include <memory>
#include <string>
#include <vector>

#include "fpokit/lm/tokenizer/tokenizer_json.h"

namespace fpokit::lm {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;

  // nullptr for a null pre_tokenizer; TokenizerError naming the component for unsupported types
  // or options.
  static std::unique_ptr<PreTokenizer> from_json(const JsonNode& node);

  // Replaces `pieces` (UTF-8 text) by their pre-tokenized pieces; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<std::string>& pieces) const = 0;
  // Whether a ByteLevel step is part of it (its pieces come out in the byte-level alphabet).
  virtual bool has_byte_level() const = 0;
};

// GPT-2's pre-tokenizer regex, which ByteLevel(use_regex=true) applies.
extern const char* const kGpt2PreTokenizerRegex;

}  // namespace fpokit::lm
