#include "fpokit/fpo/data/kto_pairs.h"

#include <algorithm>

#include "fpokit/core/errors.h"

namespace fpokit::fpo {

KtoPairs kto_training_pairs(const std::vector<TokenizedKto>& examples, int64_t block_size) {
  if (examples.empty()) throw InputError("no KTO examples: the dataset is empty after tokenisation and filtering");
  if (block_size < 1) throw ConfigError("KTO: the block size (--per-device-train-batch-size) must be at least 1");
  const auto n = static_cast<int64_t>(examples.size());
  KtoPairs out;
  out.pairs.reserve(examples.size());
  for (int64_t i = 0; i < n; ++i) {
    const auto& e = examples[static_cast<size_t>(i)];
    const int64_t block_start = i / block_size * block_size;
    const int64_t block_end = std::min(n, block_start + block_size);
    const int64_t prev = i > block_start ? i - 1 : block_end - 1;
    const auto& other = examples[static_cast<size_t>(prev)];
    TokenizedPair p;
    p.chosen = e.sequence;
    p.prompt_length = e.prompt_length;
    p.line = e.line;
    auto& kl = p.rejected;
    kl.input_ids.assign(e.sequence.input_ids.begin(), e.sequence.input_ids.begin() + e.prompt_length);
    kl.completion_mask.assign(static_cast<size_t>(e.prompt_length), 0);
    kl.input_ids.insert(kl.input_ids.end(), other.sequence.input_ids.begin() + other.prompt_length,
                        other.sequence.input_ids.end());
    kl.completion_mask.resize(kl.input_ids.size(), 1);
    out.pairs.push_back(std::move(p));
    out.desirable.push_back(e.desirable ? 1 : 0);
  }
  return out;
}

}  // namespace fpokit::fpo
