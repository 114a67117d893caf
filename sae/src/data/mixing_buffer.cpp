#include "fpokit/sae/data/mixing_buffer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_integer.h"
#include "fpokit/core/log/log.h"

namespace fpokit::sae {

namespace {

uint64_t mix_seed(uint64_t seed, int64_t epoch, int64_t window) {
  // splitmix64 over the three numbers: nearby windows get unrelated permutations.
  uint64_t z = seed ^ (static_cast<uint64_t>(epoch) * 0x9E3779B97F4A7C15ull) ^
               (static_cast<uint64_t>(window) * 0xBF58476D1CE4E5B9ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

MixingBuffer::MixingBuffer(ActivationSource& source, int64_t capacity, uint64_t seed, bool loop, bool prefetch)
    : source_(source), capacity_(capacity), seed_(seed), loop_(loop), prefetch_(prefetch) {
  if (capacity_ < 1) throw InputError("the mixing buffer needs a positive capacity (--buffer-tokens)");
}

MixingBuffer::~MixingBuffer() { cancel_prefetch(); }

MixingBuffer::Window MixingBuffer::read_window(int64_t epoch, int64_t window, bool on_side_stream) {
  // On an accelerator the background read gets a stream of its own, so its kernels (the model's
  // forward, online) run beside the training stream's instead of queueing behind them; the window
  // is complete (the stream synchronised, which blocks only this thread) before it is handed over.
  const auto device = source_.device();
  std::optional<c10::impl::VirtualGuardImpl> accelerator;
  std::optional<c10::StreamGuard> side_stream;
  if (on_side_stream && device.type() != c10::DeviceType::CPU) {
    accelerator.emplace(device.type());
    side_stream.emplace(accelerator->getStreamFromGlobalPool(device));
  }
  Window w;
  w.start = source_.position();
  std::vector<ActivationRows> parts;
  int64_t n = 0;
  while (n < capacity_ && !stop_prefetch_.load()) {
    auto part = source_.next();
    if (!part) break;
    n += part->size();
    parts.push_back(std::move(*part));
  }
  if (n > 0) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(seed_, epoch, window));
    const auto all = ActivationRows::cat(parts);
    parts.clear();
    w.rows = all.select(torch::randperm(n, gen, torch::kInt64));
  }
  if (side_stream) accelerator->synchronizeStream(side_stream->current_stream());
  return w;
}

void MixingBuffer::start_prefetch() {
  stop_prefetch_ = false;
  next_window_ = std::async(std::launch::async, [this, epoch = epoch_, window = window_ + 1] {
    return read_window(epoch, window, /*on_side_stream=*/true);
  });
}

void MixingBuffer::cancel_prefetch() {
  if (!next_window_.valid()) return;
  stop_prefetch_ = true;
  try {
    next_window_.get();
  } catch (...) {
    // Moot: the caller re-positions the source (restore) or is done with it (destructor).
  }
  stop_prefetch_ = false;  // synchronous reads check it too
}

bool MixingBuffer::fill() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool prefetched = next_window_.valid();
    Window w = prefetched ? next_window_.get() : read_window(epoch_, window_ + 1, /*on_side_stream=*/false);
    if (w.rows.size() > 0) {
      if (prefetched && w.rows.token_ids.device().type() != c10::DeviceType::CPU) {
        // The window's memory belongs to the side stream's pool; recorded on the training stream,
        // the caching allocator reuses it only once that stream's last reads of it are done.
        const auto device = w.rows.token_ids.device();
        c10::impl::VirtualGuardImpl accelerator(device.type());
        const auto training_stream = accelerator.getStream(device);
        auto record = [&](const torch::Tensor& t) {
          accelerator.recordDataPtrOnStream(t.storage().data_ptr(), training_stream);
        };
        for (const auto& a : w.rows.activations) record(a);
        record(w.rows.token_ids);
        record(w.rows.positions);
        record(w.rows.sequence_ids);
      }
      window_start_ = std::move(w.start);
      rows_ = std::move(w.rows);
      ++window_;
      served_ = 0;
      ever_filled_ = true;
      if (prefetch_) start_prefetch();
      return true;
    }
    if (!ever_filled_) throw InputError("the training data yields no tokens (" + source_.describe() + ")");
    if (!loop_) return false;
    source_.rewind();
    ++epoch_;
    // Repeated data changes what an SAE learns (memorised contexts); say so when it starts.
    core::log::warning("the training data ran out (" + source_.describe() + "): pass " + std::to_string(epoch_ + 1) +
                       " over it begins, so the SAE now sees repeated activations; give more data or fewer --tokens");
    window_ = -1;
  }
  return false;
}

std::optional<ActivationRows> MixingBuffer::next_batch(int64_t rows) {
  std::vector<ActivationRows> parts;
  int64_t need = rows;
  while (need > 0) {
    if (served_ >= rows_.size() && !fill()) break;
    const int64_t take = std::min(need, rows_.size() - served_);
    parts.push_back(rows_.slice(served_, served_ + take));
    served_ += take;
    need -= take;
  }
  if (need == rows) return std::nullopt;
  return ActivationRows::cat(parts);
}

nlohmann::json MixingBuffer::state() const {
  return {{"epoch", epoch_}, {"window", window_}, {"window_start", window_start_}, {"served", served_}};
}

void MixingBuffer::restore(const nlohmann::json& state) {
  cancel_prefetch();
  epoch_ = core::json_state_integer(state, "epoch");
  window_ = core::json_state_integer(state, "window");
  const auto served = core::json_state_integer(state, "served");
  if (window_ < 0) {  // nothing had been drawn yet
    source_.rewind();
    rows_ = {};
    served_ = 0;
    return;
  }
  source_.seek(state.at("window_start"));
  --window_;  // fill() advances it to the saved window again
  if (!fill()) throw InputError("the training data ended before the checkpoint's position; was it changed?");
  served_ = served;
}

}  // namespace fpokit::sae
