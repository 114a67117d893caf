// Which reference the trainer uses, and which NLL: FPO's released variant runs the reference
// online on each training batch (so at step 1, policy = reference, D is exactly 0 and the loss
// exactly log 2, whatever the batch's padding), while the paper variant's offline cache pools
// over its own batches; ORPO's NLL is TRL's (prompt and completion) unless asked otherwise.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/lm/model/load_model.h"
#include "fpo/trainer_options.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;

namespace {

lm::CausalLM tiny_model() { return lm::load_model(test::fixture("models/llama-gqa"), {torch::kCPU, torch::kFloat32}); }

// Pairs of very different lengths, so that padded lengths differ between batches.
std::vector<TokenizedPair> ragged_pairs(int n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  std::vector<TokenizedPair> out;
  for (int i = 0; i < n; ++i) {
    TokenizedPair p;
    const int64_t prompt_len = 2 + (i * 5) % 9, chosen_len = 2 + (i * 3) % 7, rejected_len = 1 + (i * 7) % 6;
    auto ids = [&](int64_t len) { return torch::randint(10, 300, {len}, gen); };
    const auto prompt = ids(prompt_len), chosen = ids(chosen_len), rejected = ids(rejected_len);
    for (int64_t t = 0; t < prompt_len; ++t) {
      p.chosen.input_ids.push_back(prompt[t].item<int64_t>());
      p.chosen.completion_mask.push_back(0);
    }
    p.rejected = p.chosen;
    for (int64_t t = 0; t < chosen_len; ++t) {
      p.chosen.input_ids.push_back(chosen[t].item<int64_t>());
      p.chosen.completion_mask.push_back(1);
    }
    for (int64_t t = 0; t < rejected_len; ++t) {
      p.rejected.input_ids.push_back(rejected[t].item<int64_t>());
      p.rejected.completion_mask.push_back(1);
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::map<std::string, double> first_step(PreferenceTrainerOptions o, const sae::SparseAutoencoderImpl* sae_module,
                                         lm::CausalLM* reference_out = nullptr) {
  FeatureProbe probe;
  if (sae_module) probe = {sae_module, lm::HookName::parse("blocks.1.hook_resid_post"), o.loss.fpo.variant};
  PreferenceTrainer trainer(o, tiny_model(), ragged_pairs(12), probe);
  auto reference = tiny_model();
  trainer.precompute_reference(reference);
  if (reference_out) *reference_out = reference;
  std::map<std::string, double> step1;
  trainer.train([&](const StepMetrics& m) {
    if (m.step == 1) step1 = m.values;
  });
  return step1;
}

}  // namespace

TEST_CASE("FPO released: the online reference gives D = 0 and loss log 2 at step 1", "[fpo][trainer][released]") {
  torch::manual_seed(0);
  auto sae_module = test::random_fixture_sae();
  // Batches of 4 out of 12 ragged pairs, shuffled: the training batches' padded lengths differ from
  // any fixed precompute batching, which is what made the cached reference's D non-zero.
  auto o = test::constant_lr_options(Method::Fpo, 1e-3, 2, 4);
  o.loss.fpo.variant = FpoVariant::ReleasedCode;
  o.loss.fpo.top_k = 16;
  REQUIRE(reference_runs_online(o));
  const auto step1 = first_step(o, sae_module.get());
  REQUIRE(step1.count("fpo/feature_mse/chosen"));
  CHECK(step1.at("fpo/feature_mse/chosen") == 0.0);
  CHECK(step1.at("fpo/feature_mse/rejected") == 0.0);
  CHECK(step1.at("loss") == Approx(std::log(2.0)).epsilon(1e-7));
  CHECK(step1.at("rewards/margins") == 0.0);

  // The paper variant caches the reference; its pooling (mean over completion tokens) does not
  // depend on padding, so it too starts at D = 0.
  o.loss.fpo.variant = FpoVariant::Paper;
  REQUIRE_FALSE(reference_runs_online(o));
  const auto paper = first_step(o, sae_module.get());
  CHECK(paper.at("fpo/feature_mse/chosen") == Approx(0.0).margin(1e-12));
  CHECK(paper.at("loss") == Approx(std::log(2.0)).epsilon(1e-6));
}

TEST_CASE("FPO released: the reference keeps its weights while the policy trains", "[fpo][trainer][released]") {
  auto sae_module = test::random_fixture_sae();
  auto o = test::constant_lr_options(Method::Fpo, 5e-3, 6, 4);
  o.loss.fpo.variant = FpoVariant::ReleasedCode;
  o.loss.fpo.top_k = 16;
  o.loss.fpo.alpha = 5.0;
  lm::CausalLM reference;
  std::map<std::string, double> last;
  {
    FeatureProbe probe{sae_module.get(), lm::HookName::parse("blocks.1.hook_resid_post"), o.loss.fpo.variant};
    auto policy = tiny_model();
    PreferenceTrainer trainer(o, policy, ragged_pairs(12), probe);
    reference = tiny_model();
    trainer.precompute_reference(reference);
    trainer.train([&](const StepMetrics& m) { last = m.values; });
    // Training moved the policy away from the reference: D is positive now.
    CHECK(last.at("fpo/feature_mse/chosen") + last.at("fpo/feature_mse/rejected") > 0.0);
  }
  const auto fresh = tiny_model();
  const auto a = reference->named_parameters(), b = fresh->named_parameters();
  for (const auto& p : a) CHECK(torch::equal(p.value(), b[p.key()]));
}

TEST_CASE("ORPO's NLL is TRL's (prompt and completion) unless --orpo-nll completion", "[fpo][trainer][orpo]") {
  auto o = test::constant_lr_options(Method::Orpo, 1e-3, 1, 12);
  REQUIRE(o.loss.orpo.nll == OrpoNll::Sequence);
  const auto sequence = first_step(o, nullptr).at("nll_loss");
  o.loss.orpo.nll = OrpoNll::Completion;
  const auto completion = first_step(o, nullptr).at("nll_loss");

  // Independent values: cross-entropy of the chosen rows over the positions that predict a real
  // token (TRL: labels = ids where attention_mask is 1), and over the completion tokens only.
  torch::NoGradGuard no_grad;
  auto model = tiny_model();
  model->eval();
  double seq_sum = 0, comp_sum = 0;
  int64_t seq_n = 0, comp_n = 0;
  for (const auto& p : ragged_pairs(12)) {
    const auto ids = torch::tensor(p.chosen.input_ids, torch::kInt64).unsqueeze(0);
    const auto logp = torch::log_softmax(model->forward({ids, {}})[0], -1);
    for (size_t t = 1; t < p.chosen.input_ids.size(); ++t) {
      const double lp = logp[static_cast<int64_t>(t) - 1][p.chosen.input_ids[t]].item<double>();
      seq_sum -= lp;
      ++seq_n;
      if (p.chosen.completion_mask[t]) {
        comp_sum -= lp;
        ++comp_n;
      }
    }
  }
  CHECK(sequence == Approx(seq_sum / static_cast<double>(seq_n)).epsilon(1e-5));
  CHECK(completion == Approx(comp_sum / static_cast<double>(comp_n)).epsilon(1e-5));
  CHECK(std::abs(sequence - completion) > 1e-3);  // the fixture tells the two apart
}
