// KTO end to end: the (example, KL sequence) pairs follow TRL's rotation within blocks, the loss
// takes unequal numbers of desirable and undesirable sequences as TRL's formula does, and the
// trainer learns: desirable completions gain log-ratio, undesirable ones lose it.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include "fpokit/fpo/data/kto_pairs.h"
#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/model/load_model.h"
#include "fpo/trainer_options.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;

namespace {

TokenizedKto example(std::vector<int64_t> prompt, std::vector<int64_t> completion, bool desirable, int64_t line) {
  TokenizedKto e;
  e.prompt_length = static_cast<int64_t>(prompt.size());
  e.sequence.input_ids = prompt;
  e.sequence.completion_mask.assign(prompt.size(), 0);
  e.sequence.input_ids.insert(e.sequence.input_ids.end(), completion.begin(), completion.end());
  e.sequence.completion_mask.resize(e.sequence.input_ids.size(), 1);
  e.desirable = desirable;
  e.line = line;
  return e;
}

std::vector<TokenizedKto> synthetic_kto(int n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  std::vector<TokenizedKto> out;
  auto draw = [&](int64_t k) {
    const auto t = torch::randint(10, 300, {k}, gen);
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + k);
  };
  for (int i = 0; i < n; ++i) out.push_back(example(draw(3 + i % 3), draw(2 + i % 2), i % 3 != 0, i + 1));
  return out;
}

}  // namespace

TEST_CASE("KTO KL sequences pair each prompt with the previous completion of its block", "[fpo][kto]") {
  const std::vector<TokenizedKto> e = {example({1, 2}, {10}, true, 1), example({3}, {20, 21}, false, 2),
                                       example({4, 5, 6}, {30}, true, 3), example({7}, {40, 41, 42}, false, 4),
                                       example({8}, {50}, true, 5)};
  const auto kp = kto_training_pairs(e, 2);
  REQUIRE(kp.pairs.size() == 5);
  CHECK(kp.desirable == std::vector<uint8_t>{1, 0, 1, 0, 1});
  // Blocks {0,1}, {2,3}, {4}: KL completions [c1, c0], [c3, c2], [c4].
  CHECK(kp.pairs[0].rejected.input_ids == std::vector<int64_t>{1, 2, 20, 21});
  CHECK(kp.pairs[0].rejected.completion_mask == std::vector<int64_t>{0, 0, 1, 1});
  CHECK(kp.pairs[1].rejected.input_ids == std::vector<int64_t>{3, 10});
  CHECK(kp.pairs[2].rejected.input_ids == std::vector<int64_t>{4, 5, 6, 40, 41, 42});
  CHECK(kp.pairs[3].rejected.input_ids == std::vector<int64_t>{7, 30});
  CHECK(kp.pairs[4].rejected.input_ids == std::vector<int64_t>{8, 50});
  for (size_t i = 0; i < e.size(); ++i) {
    CHECK(kp.pairs[i].chosen.input_ids == e[i].sequence.input_ids);
    CHECK(kp.pairs[i].prompt_length == e[i].prompt_length);
  }
  CHECK_THROWS_AS(kto_training_pairs({}, 2), InputError);
}

TEST_CASE("KTO loss with unequal desirable and undesirable counts is TRL's formula", "[fpo][kto]") {
  PreferenceInputs in;
  auto logps = [](std::vector<double> v) {
    SequenceLogps s;
    s.sum = torch::tensor(v, torch::kFloat64);
    s.mean = s.sum / 2;
    s.num_tokens = torch::full_like(s.sum, 2);
    return s;
  };
  in.policy_chosen = logps({-3.0, -1.0, -2.0});
  in.reference_chosen = logps({-4.0, -1.5, -2.0});
  in.policy_rejected = logps({-5.0});
  in.reference_rejected = logps({-4.0});
  in.kto_reference_point = torch::tensor(0.25, torch::kFloat64);
  KtoOptions o;
  o.beta = 0.5;
  o.desirable_weight = 1.0;
  o.undesirable_weight = 2.0;
  const auto r = kto_loss(in, o);
  auto s = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  const double expected = ((1 - s(0.5 * (1.0 - 0.25))) + (1 - s(0.5 * (0.5 - 0.25))) + (1 - s(0.5 * (0.0 - 0.25))) +
                           2.0 * (1 - s(0.5 * (0.25 - (-1.0))))) / 4.0;
  CHECK(r.loss.item<double>() == Approx(expected).epsilon(1e-12));
  CHECK(r.metrics.at("rewards/margins").item<double>() == Approx(0.5 * (0.5 - (-1.0))).epsilon(1e-12));
  // A batch with no undesirable sequence: no rejected metrics, no margins, a finite loss.
  in.policy_rejected = logps({});
  in.reference_rejected = logps({});
  const auto only = kto_loss(in, o);
  CHECK(std::isfinite(only.loss.item<double>()));
  CHECK_FALSE(only.metrics.count("rewards/rejected"));
  CHECK_FALSE(only.metrics.count("rewards/margins"));
}

TEST_CASE("KTO training raises desirable and lowers undesirable log-ratios", "[fpo][kto][trainer]") {
  const int saved = torch::get_num_threads();
  torch::set_num_threads(1);
  auto o = test::constant_lr_options(Method::Kto, 1e-3, 40, 8, 40);
  o.loss.kto.beta = 0.5;
  const auto model_dir = test::fixture("models/llama-gqa");
  auto policy = lm::load_model(model_dir, {torch::kCPU, torch::kFloat32});
  auto kp = kto_training_pairs(synthetic_kto(24), o.per_device_train_batch_size);
  PreferenceTrainer trainer(o, policy, kp.pairs);
  CHECK_THROWS_AS(trainer.train(), std::logic_error);  // labels missing
  trainer.use_kto_labels(kp.desirable);
  trainer.precompute_reference(lm::load_model(model_dir, {torch::kCPU, torch::kFloat32}));
  std::map<std::string, double> last;
  REQUIRE(trainer.train([&](const StepMetrics& m) { last = m.values; }));
  torch::set_num_threads(saved);
  for (const char* k : {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "kl", "grad_norm"}) {
    INFO(k);
    CHECK(last.count(k));
  }
  CHECK_FALSE(last.count("rewards/accuracies"));
  CHECK(last.at("rewards/chosen") > 1.0);
  CHECK(last.at("rewards/rejected") < -1.0);
  CHECK(last.at("loss") < 0.3);
}
