// PreferenceTrainer on a tiny fixture model: every method learns 16 synthetic pairs (reward
// accuracy 1.0 within 50 steps), FPO with a large α keeps the SAE features closer to the
// reference than SimPO, and runs are bitwise reproducible on CPU.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "fpo/trainer_options.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;

namespace {

std::filesystem::path tiny_model() { return test::fixture("models/llama-gqa"); }

std::vector<TokenizedPair> synthetic_pairs(int n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  std::vector<TokenizedPair> out;
  for (int i = 0; i < n; ++i) {
    const int64_t prompt_len = 3 + i % 3;
    const auto prompt = torch::randint(10, 300, {prompt_len}, gen);
    const auto chosen = torch::randint(10, 300, {3}, gen);
    const auto rejected = torch::randint(10, 300, {2 + i % 2}, gen);
    TokenizedPair p;
    for (int64_t t = 0; t < prompt_len; ++t) {
      p.chosen.input_ids.push_back(prompt[t].item<int64_t>());
      p.chosen.completion_mask.push_back(0);
    }
    p.rejected.input_ids = p.chosen.input_ids;
    p.rejected.completion_mask = p.chosen.completion_mask;
    for (int64_t t = 0; t < chosen.size(0); ++t) {
      p.chosen.input_ids.push_back(chosen[t].item<int64_t>());
      p.chosen.completion_mask.push_back(1);
    }
    for (int64_t t = 0; t < rejected.size(0); ++t) {
      p.rejected.input_ids.push_back(rejected[t].item<int64_t>());
      p.rejected.completion_mask.push_back(1);
    }
    out.push_back(std::move(p));
  }
  return out;
}

struct ThreadLimit {
  int saved = torch::get_num_threads();
  ThreadLimit() { torch::set_num_threads(1); }
  ~ThreadLimit() { torch::set_num_threads(saved); }
};

sae::SparseAutoencoder random_sae() { return test::random_fixture_sae(); }

struct Run {
  std::map<std::string, double> last;
  lm::CausalLM policy;
};

Run train(Method method, double alpha = 0.5, int steps = 50, const sae::SparseAutoencoderImpl* sae_module = nullptr,
          OptimizerKind optim = OptimizerKind::AdamW) {
  auto o = test::constant_lr_options(method, 1e-3, steps, 16, 5);
  o.optim = optim;
  o.loss.dpo.beta = 0.5;
  o.loss.tdpo.beta = 0.5;
  o.loss.fpo.beta = 0.5;
  o.loss.fpo.alpha = alpha;
  o.loss.fpo.top_k = 16;
  o.loss.simpo.beta = 2.0;
  o.loss.orpo.lambda = 1.0;
  FeatureProbe probe;
  if (sae_module) probe = {sae_module, lm::HookName::parse("blocks.1.hook_resid_post"), FpoVariant::Paper};
  auto policy = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});
  PreferenceTrainer trainer(o, policy, synthetic_pairs(16), probe);
  trainer.precompute_reference(lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32}));
  Run r;
  r.policy = policy;
  trainer.train([&](const StepMetrics& m) { r.last = m.values; });
  return r;
}

// Mean over pairs of D (paper variant) between a model's and the reference's pooled features.
double feature_distance(const lm::CausalLM& policy, const sae::SparseAutoencoderImpl& s) {
  torch::NoGradGuard g;
  const auto pairs = synthetic_pairs(16);
  std::vector<const TokenizedPair*> ptrs;
  for (const auto& p : pairs) ptrs.push_back(&p);
  const auto batch = collate_pairs(ptrs, 0);
  const FeatureProbe probe{&s, lm::HookName::parse("blocks.1.hook_resid_post"), FpoVariant::Paper};
  auto reference = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});
  const auto a = forward_pairs(*policy, batch, &probe);
  const auto b = forward_pairs(*reference, batch, &probe);
  return (feature_mse(a.pooled_chosen, b.pooled_chosen, 16, FpoVariant::Paper) +
          feature_mse(a.pooled_rejected, b.pooled_rejected, 16, FpoVariant::Paper))
             .mean()
             .item<double>() /
         2;
}

}  // namespace

TEST_CASE("every preference method learns 16 pairs in 50 steps", "[fpo][trainer]") {
  ThreadLimit threads;
  auto s = random_sae();
  const auto method = GENERATE(Method::Dpo, Method::Ipo, Method::Hinge, Method::Robust, Method::Simpo, Method::Tdpo1,
                               Method::Tdpo2, Method::Orpo, Method::Fpo);
  DYNAMIC_SECTION(method_name(method)) {
    const auto r = train(method, 0.5, 50, method == Method::Fpo ? s.get() : nullptr);
    INFO("loss " << r.last.at("loss") << " margins " << r.last.at("rewards/margins"));
    CHECK(r.last.at("rewards/accuracies") == 1.0);
    CHECK(r.last.at("rewards/margins") > 0);
    CHECK(std::isfinite(r.last.at("grad_norm")));
  }
}

TEST_CASE("FPO with a large alpha stays closer to the reference features than SimPO", "[fpo][trainer]") {
  ThreadLimit threads;
  auto s = random_sae();
  const auto simpo = train(Method::Simpo, 0, 50);
  const auto fpo = train(Method::Fpo, 50.0, 50, s.get());
  const double d_simpo = feature_distance(simpo.policy, *s);
  const double d_fpo = feature_distance(fpo.policy, *s);
  INFO("feature MSE: SimPO " << d_simpo << ", FPO " << d_fpo);
  CHECK(d_fpo < d_simpo);
}

TEST_CASE("preference training is bitwise reproducible on CPU", "[fpo][trainer]") {
  ThreadLimit threads;
  const auto a = train(Method::Dpo, 0.5, 6);
  const auto b = train(Method::Dpo, 0.5, 6);
  auto pa = a.policy->named_parameters();
  auto pb = b.policy->named_parameters();
  for (const auto& p : pa) {
    INFO(p.key());
    CHECK(torch::equal(p.value(), pb[p.key()]));
  }
}

// What is checked of RMSprop's update is its first step's size (10·lr·sign(g) with alpha 0.99, as
// torch.optim.RMSprop); later steps are LibTorch's RMSprop itself, which the trainer calls.
TEST_CASE("RMSprop learns 16 pairs and its first step moves weights by 10 lr", "[fpo][trainer][optim]") {
  ThreadLimit threads;
  const auto r = train(Method::Dpo, 0.5, 50, nullptr, OptimizerKind::RMSprop);
  CHECK(r.last.at("rewards/accuracies") == 1.0);
  // First step without clipping: v = (1 - 0.99) g², so every weight with a gradient moves by
  // lr · g / (√v + eps) = 10 · lr · sign(g) (AdamW's first step would be lr · sign(g)).
  const auto first = train(Method::Dpo, 0.5, 1, nullptr, OptimizerKind::RMSprop);
  auto base = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});
  const auto moved = (first.policy->named_parameters()["model.layers.0.mlp.up_proj.weight"] -
                      base->named_parameters()["model.layers.0.mlp.up_proj.weight"])
                         .abs();
  const auto changed = moved.gt(0);
  REQUIRE(changed.sum().item<int64_t>() > 0);
  // lr 1e-3, and grad_norm may exceed max_grad_norm 1.0: clipping scales g but not sign(g).
  CHECK(moved.index({changed}).max().item<double>() == Approx(1e-2).epsilon(1e-3));
  // Weights whose |g| is near eps (1e-8) move less; nearly all move by exactly 10 · lr.
  CHECK((moved.index({changed}) - 1e-2).abs().lt(1e-5).to(torch::kFloat32).mean().item<double>() > 0.9);
  CHECK_THROWS_WITH(parse_optimizer("sgd"), Catch::Contains("adamw_torch or rmsprop"));
}

TEST_CASE("a loss that turns NaN stops training and keeps the last checkpoint", "[fpo][trainer][nan]") {
  ThreadLimit threads;
  test::TempDir tmp;
  // lr 1e30: the first step throws the weights to ±1e30; the next forward overflows.
  auto o = test::constant_lr_options(Method::Dpo, 1e30, 10, 16);
  o.save_steps = 1;
  o.max_grad_norm = 0;
  o.output_dir = tmp / "out";
  auto policy = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});
  PreferenceTrainer trainer(o, policy, synthetic_pairs(16));
  trainer.precompute_reference(lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32}));
  CHECK_THROWS_WITH(trainer.train(), Catch::Contains("the loss became") && Catch::Contains("training stopped") &&
                                         Catch::Contains("the last checkpoint is kept"));
  // The checkpoint on disk is the last finite one, and a resume can read it.
  REQUIRE(trainer.has_checkpoint());
  const auto state = trainer.check_checkpoint();
  CHECK(state.at("step").get<int64_t>() >= 1);
  CHECK(state.at("step").get<int64_t>() < trainer.step() + 1);
  lm::SafetensorsFile saved(*core::CheckpointFolder(tmp / "out").newest() / "policy.safetensors");
  for (const auto& info : saved.tensors()) {
    INFO(info.name);
    CHECK(torch::isfinite(saved.load(info.name)).all().item<bool>());
  }
}

TEST_CASE("an interrupted preference run resumed equals an uninterrupted one bitwise", "[fpo][trainer][resume]") {
  ThreadLimit threads;
  struct Case {
    Method method;
    OptimizerKind optim;
    FpoVariant variant;
  };
  // Every kind of reference: cached (DPO, KTO, FPO paper), online (TDPO, FPO released); FPO's
  // selection counts are checkpointed too.
  const auto c = GENERATE(values<Case>({{Method::Dpo, OptimizerKind::AdamW, FpoVariant::Paper},
                                        {Method::Dpo, OptimizerKind::RMSprop, FpoVariant::Paper},
                                        {Method::Tdpo2, OptimizerKind::AdamW, FpoVariant::Paper},
                                        {Method::Kto, OptimizerKind::AdamW, FpoVariant::Paper},
                                        {Method::Fpo, OptimizerKind::AdamW, FpoVariant::Paper},
                                        {Method::Fpo, OptimizerKind::AdamW, FpoVariant::ReleasedCode}}));
  static const auto sae_module = random_sae();
  auto make = [&c](const std::filesystem::path& out, int64_t stop) {
    PreferenceTrainerOptions o;
    o.method = c.method;
    o.optim = c.optim;
    o.learning_rate = 1e-3;
    o.max_steps = 8;
    o.warmup_steps = 2;
    o.per_device_train_batch_size = 4;  // 4 micro-batches per epoch: the run spans two epochs
    o.gradient_accumulation_steps = 2;
    o.output_dir = out;
    o.stop_after_steps = stop;
    o.loss.fpo.variant = c.variant;
    o.loss.fpo.top_k = 16;
    FeatureProbe probe;
    if (c.method == Method::Fpo) probe = {sae_module.get(), lm::HookName::parse("blocks.1.hook_resid_post"), c.variant};
    auto policy = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});
    auto t = std::make_unique<PreferenceTrainer>(o, policy, synthetic_pairs(16), probe);
    if (c.method == Method::Kto) {
      std::vector<uint8_t> desirable(16);
      for (size_t i = 0; i < desirable.size(); ++i) desirable[i] = i % 3 != 0;
      t->use_kto_labels(desirable);
    }
    t->precompute_reference(lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32}));
    return std::make_pair(std::move(t), policy);
  };
  DYNAMIC_SECTION(method_name(c.method) << " " << optimizer_name(c.optim) << " " << fpo_variant_name(c.variant)) {
    test::TempDir tmp;
    auto [whole, whole_policy] = make(tmp / "whole", 0);
    REQUIRE(whole->train());
    {
      auto [first, _] = make(tmp / "split", 3);
      REQUIRE_FALSE(first->train());
    }
    auto [second, second_policy] = make(tmp / "split", 0);
    REQUIRE(second->has_checkpoint());
    second->resume();
    CHECK(second->step() == 3);
    REQUIRE(second->train());
    auto a = whole_policy->named_parameters();
    auto b = second_policy->named_parameters();
    for (const auto& p : a) {
      INFO(p.key());
      CHECK(torch::equal(p.value(), b[p.key()]));
    }
    if (c.method == Method::Fpo) {
      const auto& x = whole->feature_selection_counts();
      const auto& y = second->feature_selection_counts();
      CHECK(x.selections == y.selections);
      CHECK(x.selections > 0);
      CHECK(torch::equal(x.counts, y.counts));
    }
  }
}

TEST_CASE("bfloat16 training keeps float32 master weights under autocast", "[fpo][trainer][bf16]") {
  ThreadLimit threads;
  // lr 1e-6: AdamW moves each weight by ~1e-6, far below bfloat16's resolution at |w| ~ 0.02
  // (~1e-4), so training the bf16 weights themselves loses every update; autocast keeps them.
  auto run = [](torch::ScalarType param_dtype, std::optional<torch::ScalarType> autocast) {
    auto o = test::constant_lr_options(Method::Dpo, 1e-6, 3, 16);
    o.autocast_dtype = autocast;
    auto policy = lm::load_model(tiny_model(), {torch::kCPU, param_dtype});
    const auto before = policy->named_parameters()["model.layers.0.mlp.up_proj.weight"].clone();
    PreferenceTrainer trainer(o, policy, synthetic_pairs(16));
    trainer.precompute_reference(lm::load_model(tiny_model(), {torch::kCPU, param_dtype}));
    std::vector<std::map<std::string, double>> steps;
    trainer.train([&](const StepMetrics& m) { steps.push_back(m.values); });
    const auto after = policy->named_parameters()["model.layers.0.mlp.up_proj.weight"];
    const double moved = after.ne(before).to(torch::kFloat32).mean().item<double>();
    return std::make_pair(moved, steps);
  };
  const auto [pure_moved, pure_steps] = run(torch::kBFloat16, std::nullopt);
  const auto [mixed_moved, mixed_steps] = run(torch::kFloat32, torch::kBFloat16);
  CHECK(pure_moved < 0.01);
  CHECK(mixed_moved > 0.9);
  // Policy and reference run the same autocast forward: at step 1 they agree exactly.
  CHECK(mixed_steps.at(0).at("rewards/chosen") == 0.0);
  CHECK(mixed_steps.at(0).at("rewards/margins") == 0.0);
  CHECK(mixed_steps.at(2).at("loss") < mixed_steps.at(0).at("loss"));
  // Autocast really ran in bfloat16: the log-probs differ from a float32 run's.
  const auto [fp32_moved, fp32_steps] = run(torch::kFloat32, std::nullopt);
  CHECK(fp32_steps.at(0).at("logps/chosen") != mixed_steps.at(0).at("logps/chosen"));
  CHECK(std::abs(fp32_steps.at(0).at("logps/chosen") - mixed_steps.at(0).at("logps/chosen")) < 0.5);
}

TEST_CASE("eval pairs are evaluated on schedule and never trained on", "[fpo][trainer][eval]") {
  ThreadLimit threads;
  auto run = [](bool with_eval, std::vector<StepMetrics>* reports) {
    auto o = test::constant_lr_options(Method::Dpo, 1e-3, 10, 8, 5);
    o.eval_steps = 4;
    o.per_device_eval_batch_size = 3;  // uneven last batch: the averages weigh by pairs
    o.loss.dpo.beta = 0.5;
    auto policy = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});
    auto all = synthetic_pairs(16);
    PreferenceTrainer trainer(o, policy, all);
    if (with_eval) {
      // Eval pairs: 5 of the training pairs, so a trained model must rank them right.
      trainer.set_eval_pairs({all.begin(), all.begin() + 5});
    }
    trainer.precompute_reference(lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32}));
    if (with_eval) {
      const auto before = trainer.evaluate();
      CHECK(before.at("eval_loss") == Approx(std::log(2.0)).epsilon(1e-6));  // policy == reference
      // Zero up to float rounding: the eval batches (3 pairs) pad differently from the reference
      // pass's batches, and the CPU's kernels may sum in a different order for other shapes.
      CHECK(std::abs(before.at("eval_rewards/margins")) < 1e-5);
    }
    trainer.train([&](const StepMetrics& m) { reports->push_back(m); });
    return policy;
  };
  std::vector<StepMetrics> with, without;
  const auto a = run(true, &with);
  const auto b = run(false, &without);
  // Evaluation changes nothing in training: same weights, same training reports.
  for (const auto& p : a->named_parameters()) {
    INFO(p.key());
    CHECK(torch::equal(p.value(), b->named_parameters()[p.key()]));
  }
  std::vector<int64_t> eval_steps, train_steps;
  for (const auto& m : with) (m.values.count("eval_loss") ? eval_steps : train_steps).push_back(m.step);
  CHECK(eval_steps == std::vector<int64_t>{4, 8, 10});
  CHECK(train_steps == std::vector<int64_t>{5, 10});
  CHECK(without.size() == 2);
  const auto& last = with.back().values;
  CHECK(last.at("eval_rewards/accuracies") == 1.0);
  CHECK(last.at("eval_loss") < std::log(2.0));
  for (const auto& [k, v] : last) CHECK(k.rfind("eval_", 0) == 0);
}

TEST_CASE("LoRA runs take the base with adapters off as reference and train only the adapters",
          "[fpo][trainer][lora]") {
  ThreadLimit threads;
  auto s = random_sae();
  const auto method = GENERATE(Method::Tdpo1, Method::Fpo, Method::Dpo);
  DYNAMIC_SECTION(method_name(method)) {
    auto o = test::constant_lr_options(method, 3e-3, 40, 16);
    o.loss.dpo.beta = o.loss.tdpo.beta = o.loss.fpo.beta = 0.5;
    o.loss.fpo.top_k = 16;
    FeatureProbe probe;
    if (method == Method::Fpo) probe = {s.get(), lm::HookName::parse("blocks.1.hook_resid_post"), FpoVariant::Paper};
    auto policy = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});
    std::map<std::string, torch::Tensor> base;
    for (const auto& p : policy->named_parameters()) base[p.key()] = p.value().clone();
    lm::LoraOptions lo;
    lo.r = 4;
    lo.targets = {"q_proj", "v_proj", "up_proj", "down_proj"};
    auto adapters = lm::LoraAdapters::attach(*policy, lo);
    PreferenceTrainer trainer(o, policy, synthetic_pairs(16), probe);
    trainer.use_lora(&adapters);
    trainer.precompute_reference(policy);  // the policy itself: adapters are switched off for it
    std::vector<std::map<std::string, double>> steps;
    trainer.train([&](const StepMetrics& m) { steps.push_back(m.values); });
    // Step 1: B = 0, so the adapted policy is its reference exactly.
    CHECK(steps.at(0).at("rewards/margins") == 0.0);
    if (method == Method::Tdpo1) CHECK(steps.at(0).at("kl/chosen") == 0.0);
    if (method == Method::Fpo) CHECK(steps.at(0).at("fpo/feature_mse/chosen") == 0.0);
    CHECK(steps.back().at("rewards/accuracies") == 1.0);
    for (const auto& p : policy->named_parameters()) {
      INFO(p.key());
      CHECK(torch::equal(p.value(), base[p.key()]));
    }
    // TDPO's online reference forward saw the adapters off: KL grows from 0 as they train.
    if (method == Method::Tdpo1) CHECK(steps.back().at("kl/chosen") > 0.0);
  }
}

TEST_CASE("SFT on text rows: the chosen side alone is forwarded and the loss is the causal-LM cross-entropy",
          "[fpo][trainer]") {
  ThreadLimit threads;
  torch::NoGradGuard no_grad;
  // Text rows as read_sft_data makes them: a one-token prompt (the BOS), the text on both sides.
  auto pairs = synthetic_pairs(6);
  for (auto& p : pairs) {
    p.chosen.completion_mask.assign(p.chosen.completion_mask.size(), 1);
    p.chosen.completion_mask[0] = 0;
    p.rejected = p.chosen;
  }
  std::vector<const TokenizedPair*> ptrs;
  for (const auto& p : pairs) ptrs.push_back(&p);
  const auto batch = collate_pairs(ptrs, 0);
  auto model = lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32});

  const auto both = forward_pairs(*model, batch);
  const auto chosen_only = forward_pairs(*model, batch, nullptr, {}, false, false, /*chosen_only=*/true);
  CHECK(chosen_only.chosen.token_logps.size(0) == 6);
  CHECK(torch::allclose(chosen_only.chosen.sum, both.chosen.sum, 1e-5, 1e-5));
  CHECK(torch::equal(chosen_only.rejected.sum, chosen_only.chosen.sum));  // one forward serves both sides

  // The loss: every token after the first, predicted from the ones before, averaged over tokens.
  const auto B = batch.pairs();
  const auto ids = batch.input_ids.narrow(0, 0, B);
  const auto mask = batch.attention_mask.narrow(0, 0, B);
  const auto logits = model->forward({ids, mask});
  const auto logp =
      torch::log_softmax(logits.slice(1, 0, -1), -1).gather(-1, ids.slice(1, 1).unsqueeze(-1)).squeeze(-1);
  const auto m = mask.slice(1, 1).to(torch::kFloat32);
  const double expected = -(logp * m).sum().item<double>() / m.sum().item<double>();

  auto o = test::constant_lr_options(Method::Sft, 1e-3, 1, 6);
  PreferenceTrainer evaluator(PreferenceTrainer::EvaluationOnly{}, o,
                              lm::load_model(tiny_model(), {torch::kCPU, torch::kFloat32}), pairs);
  const auto metrics = evaluator.evaluate();
  CHECK(metrics.at("eval_loss") == Approx(expected).epsilon(1e-5));
}
