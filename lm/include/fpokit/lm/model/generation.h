#pragma once
// Autoregressive generation with a KV cache: one prefill forward over the prompt, then one token
// per forward. Greedy when temperature == 0 (equals HF generate(do_sample=False)); otherwise
// sampling with HF's processor order: temperature, then top-k, then top-p, drawn from a seeded
// CPU generator so that a seed gives the same text on any device.
#include <cstdint>
#include <functional>
#include <vector>

#include "fpokit/lm/model/causal_lm.h"

namespace fpokit::lm {

struct GenerationOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
  uint64_t seed = 0;
  std::vector<int64_t> stop_ids;  // generation ends after emitting one of these (EOS)
};

struct GenerationResult {
  std::vector<int64_t> new_tokens;  // without the prompt; includes the stop token if one came
  bool stopped = false;             // ended on a stop id rather than max_new_tokens
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
};

// Throws InputError for an empty prompt or options out of range (temperature < 0, top_p outside
// (0, 1], negative top_k or max_new_tokens). `on_token` is called for each new token as it comes.
GenerationResult generate(CausalLMImpl& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const std::function<void(int64_t)>& on_token = {});

// The next token from last-position logits [vocab] (any dtype/device) under `options`.
int64_t select_next_token(const torch::Tensor& logits, const GenerationOptions& options,
                          torch::Generator& generator);

}  // namespace fpokit::lm
