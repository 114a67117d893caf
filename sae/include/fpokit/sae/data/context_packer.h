#pragma once
// Packs a text corpus into fixed-length rows of token ids for harvesting, as SAELens does:
// documents are tokenised without special tokens and concatenated, each followed by a separator
// (BOS, or EOS when the tokenizer has no BOS); every row starts with that token and carries the
// next context_size − 1 tokens of the stream. A document longer than a row continues in the next
// one; the partial row at the end of the corpus is dropped. Row-start and separator tokens are
// special, so harvesting excludes them.
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "fpokit/sae/data/text_dataset.h"

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::sae {

class ContextPacker {
 public:
  // Where the next row starts: the document (byte offset and line in the dataset) and how many of
  // its stream tokens (text tokens then the separator) earlier rows consumed.
  struct Position {
    int64_t offset = 0;
    int64_t line = 0;
    int64_t token_offset = 0;
  };

  // Throws InputError when context_size < 2 or the tokenizer has neither BOS nor EOS.
  ContextPacker(TextDataset& dataset, const lm::Tokenizer& tokenizer, int64_t context_size);

  // The next row of exactly context_size ids, or nullopt when the corpus is exhausted.
  std::optional<std::vector<int64_t>> next_row();
  Position position() const { return position_; }
  void seek(const Position& position);
  int64_t separator_id() const { return separator_; }

 private:
  bool refill();  // tokenises the next document into pending_; false at the end of the corpus

  TextDataset& dataset_;
  const lm::Tokenizer& tokenizer_;
  int64_t context_size_;
  int64_t separator_ = 0;
  std::deque<int64_t> pending_;  // unconsumed stream tokens of the current document
  Position position_;            // of pending_.front()
  Position next_document_;       // where the document after the current one starts
};

}  // namespace fpokit::sae
