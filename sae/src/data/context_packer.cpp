#include "fpokit/sae/data/context_packer.h"

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"

namespace fpokit::sae {

ContextPacker::ContextPacker(TextDataset& dataset, const lm::Tokenizer& tokenizer, int64_t context_size)
    : dataset_(dataset), tokenizer_(tokenizer), context_size_(context_size) {
  if (context_size_ < 2)
    throw InputError("context size " + std::to_string(context_size_) + " is too small: rows need at least 2 tokens");
  if (tokenizer.bos_id()) {
    separator_ = *tokenizer.bos_id();
  } else if (!tokenizer.eos_ids().empty()) {
    separator_ = tokenizer.eos_ids().front();
  } else {
    throw InputError("the tokenizer has neither a BOS nor an EOS token to separate documents with");
  }
  position_ = next_document_ = {dataset_.offset(), dataset_.line(), 0};
}

bool ContextPacker::refill() {
  auto doc = dataset_.next();
  if (!doc) return false;
  const auto ids = tokenizer_.encode(doc->text, /*add_special_tokens=*/false);
  pending_.assign(ids.begin(), ids.end());
  pending_.push_back(separator_);
  position_ = {doc->offset, doc->line - 1, 0};
  next_document_ = {dataset_.offset(), dataset_.line(), 0};
  return true;
}

std::optional<std::vector<int64_t>> ContextPacker::next_row() {
  std::vector<int64_t> row;
  row.reserve(context_size_);
  row.push_back(separator_);
  while (static_cast<int64_t>(row.size()) < context_size_) {
    if (pending_.empty() && !refill()) return std::nullopt;  // the partial row is dropped
    const auto take = std::min<int64_t>(context_size_ - static_cast<int64_t>(row.size()),
                                        static_cast<int64_t>(pending_.size()));
    row.insert(row.end(), pending_.begin(), pending_.begin() + take);
    pending_.erase(pending_.begin(), pending_.begin() + take);
    position_.token_offset += take;
  }
  if (pending_.empty()) position_ = next_document_;
  return row;
}

void ContextPacker::seek(const Position& position) {
  dataset_.seek(position.offset, position.line);
  pending_.clear();
  position_ = next_document_ = {position.offset, position.line, 0};
  if (position.token_offset == 0) return;
  if (!refill())
    throw InputError("dataset " + dataset_.path().string() + " ends before the checkpoint's position; was it changed?");
  if (position.token_offset >= static_cast<int64_t>(pending_.size()))
    throw InputError("dataset " + dataset_.path().string() + " line " + std::to_string(position.line + 1) +
                     " is shorter than at checkpoint time; was it changed?");
  pending_.erase(pending_.begin(), pending_.begin() + position.token_offset);
  position_.token_offset = position.token_offset;
}

}  // namespace fpokit::sae
