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
//
// Prefetch (on by default in training): while window w is served, a background thread reads
// window w+1 from the source and permutes it — online, that is the model's forward for the next
// window running beside the SAE steps on this one (on a CUDA device, on a side stream of its own).
// The windows and their permutations are the same as without it, so batches and --resume do not
// change; the cost is a second window in memory.
#include <atomic>
#include <cstdint>
#include <future>
#include <optional>

#include <nlohmann/json.hpp>

#include "fpokit/sae/data/activation_source.h"

namespace fpokit::sae {

class MixingBuffer {
 public:
  // loop: at the end of the source start a new epoch (rewind) instead of ending.
  // prefetch: read the next window in the background (see above).
  MixingBuffer(ActivationSource& source, int64_t capacity, uint64_t seed, bool loop, bool prefetch = false);
  ~MixingBuffer();  // stops a prefetch in flight (after the source call it is in) and waits for it
  MixingBuffer(const MixingBuffer&) = delete;
  MixingBuffer& operator=(const MixingBuffer&) = delete;

  // Exactly `rows` rows; fewer (or nullopt) only at the end of a non-looping source. Throws
  // InputError if the source yields no row at all (an empty dataset).
  std::optional<ActivationRows> next_batch(int64_t rows);

  nlohmann::json state() const;
  void restore(const nlohmann::json& state);
  int64_t epoch() const { return epoch_; }
  int64_t capacity() const { return capacity_; }

 private:
  // A window as read from the source: where it began and its rows, already permuted (empty when
  // the source had no row left).
  struct Window {
    nlohmann::json start;
    ActivationRows rows;
  };
  bool fill();  // false when the source is exhausted (and not looping)
  // Reads up to capacity rows and permutes them with window `window` of epoch `epoch`'s
  // permutation. The only place that reads the source, on whichever thread.
  Window read_window(int64_t epoch, int64_t window, bool on_side_stream);
  void start_prefetch();
  void cancel_prefetch();  // waits for the thread; drops its window (the source has moved on)

  ActivationSource& source_;
  int64_t capacity_;
  uint64_t seed_;
  bool loop_;
  bool prefetch_;
  std::future<Window> next_window_;  // valid while a prefetch is in flight or done and not taken
  std::atomic<bool> stop_prefetch_{false};
  int64_t epoch_ = 0;
  int64_t window_ = -1;          // index of the window in `rows_` (within the epoch)
  nlohmann::json window_start_;  // source position where that window began
  ActivationRows rows_;          // the current window, permuted
  int64_t served_ = 0;
  bool ever_filled_ = false;
};

}  // namespace fpokit::sae
