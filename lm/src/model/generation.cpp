#include "fpokit/lm/model/generation.h"

#include <algorithm>
#include <chrono>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/model/kv_cache.h"

namespace fpokit::lm {

namespace {

void validate(const std::vector<int64_t>& prompt, const GenerationOptions& o, int64_t vocab_size) {
  if (prompt.empty()) throw InputError("generate: the prompt is empty (it encodes to no tokens)");
  for (int64_t id : prompt) {
    if (id < 0 || id >= vocab_size) {
      throw InputError("generate: prompt token id " + std::to_string(id) + " is outside the model's vocabulary [0, " +
                       std::to_string(vocab_size) + ")");
    }
  }
  if (o.max_new_tokens < 0) throw InputError("--max-new-tokens must be >= 0");
  if (o.temperature < 0) throw InputError("--temperature must be >= 0 (0 means greedy)");
  if (!(o.top_p > 0 && o.top_p <= 1)) throw InputError("--top-p must be in (0, 1]");
  if (o.top_k < 0) throw InputError("--top-k must be >= 0 (0 means off)");
}

}  // namespace

int64_t select_next_token(const torch::Tensor& logits, const GenerationOptions& o, torch::Generator& generator) {
  auto scores = logits.to(torch::kCPU, torch::kFloat32);
  if (o.temperature == 0.0) return scores.argmax().item<int64_t>();
  scores = scores / o.temperature;
  const auto neg_inf = -std::numeric_limits<float>::infinity();
  if (o.top_k > 0 && o.top_k < scores.size(0)) {
    // HF TopKLogitsWarper: drop everything below the k-th largest score.
    const auto kth = std::get<0>(scores.topk(o.top_k)).min();
    scores = scores.masked_fill(scores < kth, neg_inf);
  }
  if (o.top_p < 1.0) {
    // HF TopPLogitsWarper: sort ascending, drop the tokens whose cumulative probability is
    // <= 1 - top_p, always keeping the most likely one.
    const auto [sorted, order] = scores.sort(/*dim=*/-1, /*descending=*/false);
    const auto cumulative = sorted.softmax(-1).cumsum(-1);
    auto remove_sorted = cumulative <= (1.0 - o.top_p);
    remove_sorted.index_put_({-1}, false);
    const auto remove = remove_sorted.scatter(0, order, remove_sorted);
    scores = scores.masked_fill(remove, neg_inf);
  }
  const auto probs = scores.softmax(-1);
  return torch::multinomial(probs, 1, /*replacement=*/false, generator).item<int64_t>();
}

GenerationResult generate(CausalLMImpl& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const std::function<void(int64_t)>& on_token) {
  validate(prompt, options, model.config().vocab_size);
  torch::NoGradGuard no_grad;
  using clock = std::chrono::steady_clock;
  const auto device = model.parameters().front().device();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  KVCache cache(model.config().num_layers);
  GenerationResult result;

  auto t0 = clock::now();
  auto input = torch::tensor(prompt, torch::kInt64).unsqueeze(0).to(device);
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    // The head on the last position only: the prompt's other positions need no vocabulary-wide
    // logits (for a 256k vocabulary that is most of the prefill's memory).
    const auto hidden = model.hidden_states({input, {}}, nullptr, &cache);
    const int64_t next = select_next_token(model.logits(hidden[0][-1]), options, generator);
    const auto t1 = clock::now();
    (step == 0 ? result.prefill_seconds : result.decode_seconds) += std::chrono::duration<double>(t1 - t0).count();
    t0 = t1;
    result.new_tokens.push_back(next);
    if (on_token) on_token(next);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), next) != options.stop_ids.end()) {
      result.stopped = true;
      break;
    }
    input = torch::tensor({next}, torch::kInt64).unsqueeze(0).to(device);
  }
  return result;
}

}  // namespace fpokit::lm
