#pragma once
// Shuffles source rows through a buffer of `capacity` rows: fill a window from the source,
// permute it, serve it in batches, refill. Tokens from many contexts and documents end up in each
// batch (successive tokens of one context are highly correlated; SAELens and dictionary_learning
// shuffle for the same reason).
//
// The permutation of window w is drawn from a generator seeded with (seed, epoch, w), and the
// state is only (epoch, window, source position at the window's start, rows served from it), so
// --resume re-fills the same window and continues with the very same batches, without saving
// gigabytes of buffered activations in each checkpoint. (SAELens keeps half of each buffer for the
// next refill; that mixes across windows but makes exact resume impossible without saving it.)
#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "fpokit/sae/data/activation_source.h"

namespace fpokit::sae {

class MixingBuffer {
 public:
  // loop: at the end of the source start a new epoch (rewind) instead of ending.
  MixingBuffer(ActivationSource& source, int64_t capacity, uint64_t seed, bool loop);

  // Exactly `rows` rows; fewer (or nullopt) only at the end of a non-looping source. Throws
  // InputError if the source yields no row at all (an empty dataset).
  std::optional<ActivationRows> next_batch(int64_t rows);

  nlohmann::json state() const;
  void restore(const nlohmann::json& state);
  int64_t epoch() const { return epoch_; }
  int64_t capacity() const { return capacity_; }

 private:
  bool fill();  // false when the source is exhausted (and not looping)

  ActivationSource& source_;
  int64_t capacity_;
  uint64_t seed_;
  bool loop_;
  int64_t epoch_ = 0;
  int64_t window_ = -1;          // index of the window in `rows_` (within the epoch)
  nlohmann::json window_start_;  // source position where that window began
  ActivationRows rows_;          // the current window, permuted
  int64_t served_ = 0;
  bool ever_filled_ = false;
};

}  // namespace fpokit::sae
