#pragma once
// tokenizer.json's "normalizer": Unicode normal forms (NFC for Qwen2), or a Sequence of them.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fpokit/lm/tokenizer/tokenizer_json.h"
#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm {

class TextNormalizer {
 public:
  // nullptr for a null normalizer; TokenizerError naming the component for unsupported types.
  static std::unique_ptr<TextNormalizer> from_json(const JsonNode& node);

  std::string normalize(std::string_view text) const;

 private:
  std::vector<NormalForm> steps_;
};

}  // namespace fpokit::lm
