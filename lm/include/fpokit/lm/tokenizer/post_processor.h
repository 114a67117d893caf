#pragma once
// tokenizer.json's "post_processor", applied when special tokens are requested: ByteLevel (no
// change to the ids), TemplateProcessing (the "single" template, e.g. Llama-3's
// "<|begin_of_text|> $A") and Sequence.
#include <cstdint>
#include <memory>
#include <vector>

#include "fpokit/lm/tokenizer/tokenizer_json.h"

namespace fpokit::lm {

class PostProcessor {
 public:
  // nullptr for a null post_processor; TokenizerError naming the component for unsupported
  // types or malformed templates.
  static std::unique_ptr<PostProcessor> from_json(const JsonNode& node);

  // The ids of one sequence with the special tokens the template adds.
  std::vector<int64_t> process(const std::vector<int64_t>& ids) const;

 private:
  // The single-sequence template: ids to insert, with `sequence_slot` marking where $A goes.
  struct Item {
    bool sequence_slot = false;
    std::vector<int64_t> ids;
  };
  void add_component(const JsonNode& node);

  bool templated_ = false;
  std::vector<Item> items_;
};

}  // namespace fpokit::lm
