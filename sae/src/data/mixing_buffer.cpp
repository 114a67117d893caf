#include "fpokit/sae/data/mixing_buffer.h"

#include <ATen/CPUGeneratorImpl.h>
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

MixingBuffer::MixingBuffer(ActivationSource& source, int64_t capacity, uint64_t seed, bool loop)
    : source_(source), capacity_(capacity), seed_(seed), loop_(loop) {
  if (capacity_ < 1) throw InputError("the mixing buffer needs a positive capacity (--buffer-tokens)");
}

bool MixingBuffer::fill() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    window_start_ = source_.position();
    std::vector<ActivationRows> parts;
    int64_t n = 0;
    while (n < capacity_) {
      auto part = source_.next();
      if (!part) break;
      n += part->size();
      parts.push_back(std::move(*part));
    }
    if (n > 0) {
      ++window_;
      auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(seed_, epoch_, window_));
      const auto all = ActivationRows::cat(parts);
      rows_ = all.select(torch::randperm(n, gen, torch::kInt64));
      served_ = 0;
      ever_filled_ = true;
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
  epoch_ = core::json_state_integer(state, "epoch");
  window_ = core::json_state_integer(state, "window");
  const auto served = core::json_state_integer(state, "served");
  if (window_ < 0) return;  // nothing had been drawn yet
  source_.seek(state.at("window_start"));
  --window_;  // fill() advances it to the saved window again
  if (!fill()) throw InputError("the training data ended before the checkpoint's position; was it changed?");
  served_ = served;
}

}  // namespace fpokit::sae
