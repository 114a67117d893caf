#pragma once
// KTO's unpaired examples in the trainer's pair layout. KTO needs, besides each example, a
// "mismatched" KL sequence whose log-ratio sets the reference point z0 (preference_losses.h):
// TRL builds it at preprocessing time by giving each prompt the completion of the previous
// example within consecutive blocks of per_device_train_batch_size examples
// (KL_completions = [c[-1]] + c[:-1] per block), so the KL sequences are fixed per example and their
// reference log-probs can be precomputed offline with the examples'. Here each example becomes a
// TokenizedPair with chosen = the example and rejected = its KL sequence; desirable[i] is the label.
#include <cstdint>
#include <vector>

#include "fpokit/fpo/data/preference_tokenizer.h"

namespace fpokit::fpo {

struct KtoPairs {
  std::vector<TokenizedPair> pairs;  // chosen: prompt_i + completion_i; rejected: prompt_i + completion_{prev(i)}
  std::vector<uint8_t> desirable;    // 1: desirable (label true), 0: undesirable
};

// block_size: TRL's per_device_train_batch_size (at least 1; with 1, each KL sequence is the
// example itself and z0 = max(0, mean log-ratio of the batch)). Throws InputError when empty.
KtoPairs kto_training_pairs(const std::vector<TokenizedKto>& examples, int64_t block_size);

}  // namespace fpokit::fpo
