// Generation: greedy equals HF generate(do_sample=False) on every fixture model; sampling is
// reproducible from its seed and respects top-k / top-p / stop ids.
// LibTorch before Catch2: c10's logging header defines its own CHECK macro.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/model/generation.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "models/model_fixtures.h"

using namespace fpokit;

namespace {
std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const auto c = t.flatten().to(torch::kInt64).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}
}  // namespace

TEST_CASE("greedy generation equals HF's greedy output", "[generation]") {
  const auto name = GENERATE(from_range(test::model_fixture_names()));
  INFO("fixture " << name);
  const auto model = lm::load_model(test::model_fixture(name));
  const lm::SafetensorsFile ref(test::model_fixture(name) / "reference.safetensors");
  const auto prompt = to_vector(ref.load("greedy.prompt"));
  const auto expected = to_vector(ref.load("greedy.output"));
  lm::GenerationOptions options;
  options.max_new_tokens = static_cast<int64_t>(expected.size() - prompt.size());
  const auto result = lm::generate(*model, prompt, options);
  std::vector<int64_t> got = prompt;
  got.insert(got.end(), result.new_tokens.begin(), result.new_tokens.end());
  CHECK(got == expected);
}

TEST_CASE("generation stops at a stop id", "[generation]") {
  const auto name = test::model_fixture_names().front();
  const auto model = lm::load_model(test::model_fixture(name));
  const lm::SafetensorsFile ref(test::model_fixture(name) / "reference.safetensors");
  const auto prompt = to_vector(ref.load("greedy.prompt"));
  const auto expected = to_vector(ref.load("greedy.output"));
  lm::GenerationOptions options;
  options.max_new_tokens = 10;
  options.stop_ids = {expected[prompt.size() + 2]};  // the third greedy token
  const auto result = lm::generate(*model, prompt, options);
  CHECK(result.stopped);
  CHECK(result.new_tokens.size() <= 3);
  CHECK(result.new_tokens.back() == options.stop_ids[0]);
}

TEST_CASE("sampling is reproducible from the seed and differs across seeds", "[generation]") {
  const auto name = test::model_fixture_names().front();
  const auto model = lm::load_model(test::model_fixture(name));
  lm::GenerationOptions options;
  options.max_new_tokens = 16;
  options.temperature = 1.5;
  options.seed = 11;
  const auto a = lm::generate(*model, {5, 6, 7}, options).new_tokens;
  const auto b = lm::generate(*model, {5, 6, 7}, options).new_tokens;
  options.seed = 12;
  const auto c = lm::generate(*model, {5, 6, 7}, options).new_tokens;
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("top-k and top-p keep only the allowed tokens", "[generation]") {
  const auto logits = torch::tensor({0.0f, 3.0f, 2.9f, 1.0f, -5.0f, 2.0f});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  lm::GenerationOptions o;
  o.temperature = 1.0;
  SECTION("top-k 2 draws only the two largest") {
    o.top_k = 2;
    for (int i = 0; i < 200; ++i) {
      const auto t = lm::select_next_token(logits, o, gen);
      CHECK((t == 1 || t == 2));
    }
  }
  SECTION("top-p keeps the smallest set whose mass reaches p") {
    // softmax mass: token 1 ~0.41, token 2 ~0.37, token 5 ~0.15: p = 0.7 keeps {1, 2}.
    o.top_p = 0.7;
    std::set<int64_t> seen;
    for (int i = 0; i < 300; ++i) seen.insert(lm::select_next_token(logits, o, gen));
    CHECK(seen == std::set<int64_t>{1, 2});
  }
  SECTION("temperature 0 is argmax") {
    o.temperature = 0.0;
    CHECK(lm::select_next_token(logits, o, gen) == 1);
  }
}

TEST_CASE("generation rejects an empty prompt and bad options", "[generation]") {
  const auto model = lm::load_model(test::model_fixture(test::model_fixture_names().front()));
  lm::GenerationOptions o;
  CHECK_THROWS_AS(lm::generate(*model, {}, o), InputError);
  o.top_p = 0.0;
  CHECK_THROWS_AS(lm::generate(*model, {1}, o), InputError);
  o.top_p = 1.0;
  o.temperature = -1;
  CHECK_THROWS_AS(lm::generate(*model, {1}, o), InputError);
  CHECK_THROWS_AS(lm::generate(*model, {1, 100000}, lm::GenerationOptions{}), InputError);
}
