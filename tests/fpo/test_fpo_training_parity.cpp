// Many-step parity of PreferenceTrainer with a PyTorch training loop on HF transformers: for dpo,
// simpo, tdpo2, kto, orpo, fpo (paper) and fpo (released code), six optimizer steps on
// tests/fixtures/models/llama-gqa with micro-batches of 2 pairs, gradient accumulation 2, a linear
// or cosine schedule with warm-up from 0, gradient clipping that triggers on some steps and AdamW
// with weight decay; every step's loss, learning rate, gradient norm (before clipping) and metrics,
// and the final weights, match tests/fixtures/fpo/training (tests/fixtures/generate_fpo_training.py)
// within 1e-5 relative, with a small absolute margin for the values that are 0 by construction
// (rewards, KL and feature distances while the policy still equals the reference).
// The same for LoRA: the trainer starts from a PEFT-made adapter (B != 0) and trains only its
// tensors, with the base (adapters off) as reference, against the same loop on PEFT's model
// (tests/fixtures/fpo/lora_training, tests/fixtures/generate_fpo_lora_training.py).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <set>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "fpokit/fpo/data/kto_pairs.h"
#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpo/parity_fixture.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;

namespace {

constexpr double kRelative = 1e-5;
// Absolute margins. Values: the ones that are 0 by construction at steps 1-2 (rewards, KTO's z0,
// feature distances) are rounding noise there, and differences of float32 log-prob sums of
// magnitude ~30 (KTO's kl, reward margins, log-odds) carry ~1e-6 of float32 rounding. Weights:
// AdamW's normalised update amplifies the rounding of the gradients whose terms nearly cancel to a
// few 1e-7 on single elements (the whole tensors agree to ~1e-7 relative in norm).
constexpr double kValueMargin = 2e-6;
constexpr double kWeightMargin = 1e-6;

const nlohmann::json& expected() {
  static const nlohmann::json j = test::read_json_fixture("fpo/training/expected.json");
  return j;
}

// The LoRA fixture: the same data and settings, its own runs, adapter and weights.
const nlohmann::json& lora_expected() {
  static const nlohmann::json j = test::read_json_fixture("fpo/lora_training/expected.json");
  return j;
}

// The pairs of fixture `e` (both fixtures hold the same).
std::vector<TokenizedPair> fixture_pairs(const nlohmann::json& e) { return test::fixture_pairs(e.at("pairs")); }

lm::CausalLM load_tiny_model() {
  return lm::load_model(test::fixture(expected().at("model").get<std::string>()), {torch::kCPU, torch::kFloat32});
}

// The trainer options of `run` of fixture `e` (expected() or lora_expected()).
PreferenceTrainerOptions run_options(const nlohmann::json& e, const nlohmann::json& run) {
  const auto& o = run.at("options");
  PreferenceTrainerOptions t;
  t.method = parse_method(run.at("method").get<std::string>());
  t.optim = OptimizerKind::AdamW;
  t.learning_rate = run.at("learning_rate").get<double>();
  t.lr_scheduler_type = core::parse_lr_scheduler(run.at("lr_scheduler_type").get<std::string>());
  t.max_grad_norm = run.at("max_grad_norm").get<double>();
  t.warmup_steps = e.at("warmup_steps").get<int64_t>();
  t.max_steps = e.at("max_steps").get<int64_t>();
  t.per_device_train_batch_size = e.at("per_device_train_batch_size").get<int64_t>();
  t.gradient_accumulation_steps = e.at("gradient_accumulation_steps").get<int64_t>();
  t.weight_decay = e.at("weight_decay").get<double>();
  t.adam_beta1 = e.at("adam").at("beta1").get<double>();
  t.adam_beta2 = e.at("adam").at("beta2").get<double>();
  t.adam_epsilon = e.at("adam").at("epsilon").get<double>();
  t.seed = e.at("seed").get<uint64_t>();
  t.logging_steps = 1;
  t.pad_id = e.at("pad_id").get<int64_t>();
  switch (t.method) {
    case Method::Dpo:
      t.loss.dpo.beta = o.at("beta").get<double>();
      t.loss.dpo.label_smoothing = o.at("label_smoothing").get<double>();
      break;
    case Method::Simpo:
      t.loss.simpo.beta = o.at("beta").get<double>();
      t.loss.simpo.gamma_beta_ratio = o.at("gamma_beta_ratio").get<double>();
      t.loss.simpo.sft_weight = o.at("sft_weight").get<double>();
      t.loss.simpo.label_smoothing = o.at("label_smoothing").get<double>();
      break;
    case Method::Tdpo2:
      t.loss.tdpo.beta = o.at("beta").get<double>();
      t.loss.tdpo.alpha = o.at("alpha").get<double>();
      break;
    case Method::Kto:
      t.loss.kto.beta = o.at("beta").get<double>();
      t.loss.kto.desirable_weight = o.at("desirable_weight").get<double>();
      t.loss.kto.undesirable_weight = o.at("undesirable_weight").get<double>();
      break;
    case Method::Orpo:
      t.loss.orpo.lambda = o.at("lambda").get<double>();
      t.loss.orpo.nll = OrpoNll::Sequence;  // TRL's: prompt and completion tokens
      break;
    case Method::Fpo:
      t.loss.fpo.beta = o.at("beta").get<double>();
      t.loss.fpo.alpha = o.at("alpha").get<double>();
      t.loss.fpo.top_k = o.at("top_k").get<int64_t>();
      t.loss.fpo.variant = parse_fpo_variant(o.at("variant").get<std::string>());
      break;
    default: FAIL("the fixture has no runs of method " << run.at("method"));
  }
  return t;
}

// Largest deviations seen in a run, for FPOKIT_PARITY_REPORT=1 (relative where the expected value
// is clear of the margin, absolute otherwise).
struct Deviations {
  double scalars = 0, metrics = 0, weights = 0, weight_elements = 0, update_norms = 0, near_zero = 0;
};

bool close(double got, double want, double margin, double& relative, double& near_zero) {
  const double diff = std::abs(got - want);
  if (std::abs(want) > 100 * margin) relative = std::max(relative, diff / std::abs(want));
  else near_zero = std::max(near_zero, diff);
  return diff <= kRelative * std::abs(want) + margin;
}

void check_value(const std::map<std::string, double>& got, const std::string& name, double want, double& relative,
                 double& near_zero) {
  INFO(name << ": fpokit " << std::setprecision(12) << (got.count(name) ? got.at(name) : std::nan("")) << ", expected "
            << want);
  REQUIRE(got.count(name) == 1);
  CHECK(close(got.at(name), want, kValueMargin, relative, near_zero));
}

// What the trainer needs for `run` of fixture `e`: its options, data (KTO: the rows and labels of
// kto_training_pairs) and, for FPO, the SAE probe.
struct FixtureRun {
  PreferenceTrainerOptions options;
  FeatureProbe probe;
  std::vector<TokenizedPair> pairs;
  std::vector<uint8_t> kto_desirable;  // KTO only
};

FixtureRun fixture_run(const nlohmann::json& e, const nlohmann::json& run, const sae::SparseAutoencoderImpl* sae) {
  FixtureRun r;
  r.options = run_options(e, run);
  r.pairs = fixture_pairs(e);
  if (r.options.method == Method::Kto) {
    // KTO's rows as the generator's kto_pairs, with their KL sequences in blocks of the per-device
    // batch size.
    auto kto = test::fixture_kto_pairs(r.pairs, r.options.per_device_train_batch_size);
    CHECK(std::vector<int64_t>(kto.desirable.begin(), kto.desirable.end()) ==
          e.at("kto_labels").get<std::vector<int64_t>>());
    r.pairs = std::move(kto.pairs);
    r.kto_desirable = std::move(kto.desirable);
  }
  if (r.options.method == Method::Fpo)
    r.probe = {sae, lm::HookName::parse(e.at("hook").get<std::string>()), r.options.loss.fpo.variant};
  return r;
}

// Every step's lr, loss, grad_norm, clipping and metrics against the run's "steps".
void check_steps(const std::string& name, const PreferenceTrainerOptions& options, const nlohmann::json& run,
                 const std::vector<StepMetrics>& reports, Deviations& dev) {
  const auto& steps = run.at("steps");
  REQUIRE(reports.size() == steps.size());
  int clipped = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& want = steps[i];
    const auto& got = reports[i].values;
    INFO(name << " step " << want.at("step"));
    CHECK(reports[i].step == want.at("step").get<int64_t>());
    check_value(got, "lr", want.at("lr").get<double>(), dev.scalars, dev.near_zero);
    check_value(got, "loss", want.at("loss").get<double>(), dev.scalars, dev.near_zero);
    check_value(got, "grad_norm", want.at("grad_norm").get<double>(), dev.scalars, dev.near_zero);
    clipped += want.at("clipped").get<bool>() ? 1 : 0;
    CHECK((got.at("grad_norm") > options.max_grad_norm) == want.at("clipped").get<bool>());
    const auto& metrics = want.at("metrics");
    for (const auto& [metric, value] : metrics.items())
      check_value(got, metric, value.get<double>(), dev.metrics, dev.near_zero);
    for (const auto& [metric, value] : got) {
      if (metric == "lr" || metric == "loss" || metric == "grad_norm" || metric == "tokens/s") continue;
      if (metric == "rewards/accuracies" && !metrics.contains(metric)) {
        // Left out where a reward margin is (near) 0, so that the comparison is decided by rounding.
        CHECK(want.contains("accuracies_omitted"));
        CHECK((value >= 0.0 && value <= 1.0));
        continue;
      }
      INFO(metric << " is reported by fpokit but not in the fixture");
      CHECK(metrics.contains(metric));
    }
  }
  // The fixture exercises clipping on some steps but not all.
  CHECK(clipped > 0);
  CHECK(clipped < static_cast<int>(steps.size()));
}

// A final weight tensor: within 1e-5 relative in norm, and each element within 1e-5 relative plus
// kWeightMargin.
void check_tensor(const torch::Tensor& got_tensor, const torch::Tensor& want_tensor, Deviations& dev) {
  const auto want = want_tensor.to(torch::kFloat64);
  const auto got = got_tensor.detach().to(torch::kFloat64);
  REQUIRE(got.sizes() == want.sizes());
  const auto diff = (got - want).abs();
  const double relative_norm = ((got - want).norm() / want.norm()).item<double>();
  dev.weights = std::max(dev.weights, relative_norm);
  dev.weight_elements = std::max(dev.weight_elements, diff.max().item<double>());
  CHECK(relative_norm <= kRelative);
  CHECK((diff - (kRelative * want.abs() + kWeightMargin)).max().item<double>() <= 0.0);
}

void print_deviations(const std::string& name, const Deviations& dev) {
  if (std::getenv("FPOKIT_PARITY_REPORT") != nullptr)
    std::printf(
        "%-13s max relative deviation: loss/lr/grad_norm %.2e, metrics %.2e, weight tensors %.2e (norm; "
        "elements %.2e absolute), update norms %.2e; values near 0: %.2e absolute\n",
        name.c_str(), dev.scalars, dev.metrics, dev.weights, dev.weight_elements, dev.update_norms, dev.near_zero);
}

}  // namespace

TEST_CASE("the trainer's batch order is the fixture's torch.randperm", "[fpo][trainer][parity]") {
  // PreferenceTrainer::batch_indices draws randperm(N) from a CPU generator seeded with
  // seed * 1000003 + epoch; the generator drew its permutations with torch.Generator().manual_seed.
  const auto seed = expected().at("seed").get<uint64_t>();
  REQUIRE(expected().at("permutations").size() == 2);
  for (const auto& [n, perms] : expected().at("permutations").items()) {
    for (size_t epoch = 0; epoch < perms.size(); ++epoch) {
      INFO("N " << n << " epoch " << epoch);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ull + epoch);
      const auto perm = torch::randperm(std::stoll(n), gen, torch::kInt64);
      CHECK(std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + perm.numel()) ==
            perms[epoch].get<std::vector<int64_t>>());
    }
  }
  // The LoRA fixture trains on the same data in the same order.
  for (const char* key : {"seed", "pairs", "kto_labels", "permutations", "per_device_train_batch_size",
                          "gradient_accumulation_steps", "max_steps"})
    CHECK(lora_expected().at(key) == expected().at(key));
}

TEST_CASE("many preference steps match a PyTorch loop on HF transformers", "[fpo][trainer][parity]") {
  auto sae_module = sae::load_sae(test::fixture(expected().at("sae").get<std::string>()));
  sae_module->eval();
  REQUIRE(sae_module->config().hook_name == expected().at("hook").get<std::string>());
  const std::string name = GENERATE(as<std::string>{}, "dpo", "simpo", "tdpo2", "kto", "orpo", "fpo", "fpo_released");
  DYNAMIC_SECTION(name) {
    const auto& run = expected().at("runs").at(name);
    const auto r = fixture_run(expected(), run, sae_module.get());
    auto policy = load_tiny_model();
    PreferenceTrainer trainer(r.options, policy, r.pairs, r.probe);
    if (r.options.method == Method::Kto) trainer.use_kto_labels(r.kto_desirable);
    trainer.precompute_reference(load_tiny_model());
    std::vector<StepMetrics> reports;
    trainer.train([&](const StepMetrics& m) { reports.push_back(m); });
    Deviations dev;
    check_steps(name, r.options, run, reports, dev);

    // Final weights: the full tensors the fixture keeps, and every parameter's update norm.
    lm::SafetensorsFile weights(test::fixture("fpo/training/weights.safetensors"));
    auto params = policy->named_parameters();
    int compared = 0;
    for (const auto& info : weights.tensors()) {
      const auto slash = info.name.find('/');
      if (info.name.substr(0, slash) != name) continue;
      const auto param = info.name.substr(slash + 1);
      INFO(name << " final " << param);
      REQUIRE(params.contains(param));
      check_tensor(params[param], weights.load(info.name), dev);
      ++compared;
    }
    CHECK(compared > 0);
    const auto initial = load_tiny_model()->named_parameters();
    const auto& norms = run.at("update_norms");
    CHECK(norms.size() == params.size());
    for (const auto& p : params) {
      INFO(name << " update norm of " << p.key());
      REQUIRE(norms.contains(p.key()));
      const double want = norms.at(p.key()).get<double>();
      const double got =
          (p.value().detach().to(torch::kFloat64) - initial[p.key()].to(torch::kFloat64)).norm().item<double>();
      double relative = 0, unused = 0;
      CHECK(close(got, want, kWeightMargin, relative, unused));
      dev.update_norms = std::max(dev.update_norms, relative);
    }
    print_deviations(name, dev);
  }
}

TEST_CASE("many LoRA preference steps from a PEFT adapter match a PyTorch loop on PEFT's model",
          "[fpo][trainer][parity][lora]") {
  const auto& e = lora_expected();
  auto sae_module = sae::load_sae(test::fixture(e.at("sae").get<std::string>()));
  sae_module->eval();
  const std::string name = GENERATE(as<std::string>{}, "dpo", "simpo", "tdpo2", "kto", "orpo", "fpo", "fpo_released");
  DYNAMIC_SECTION(name) {
    const auto& run = e.at("runs").at(name);
    const auto r = fixture_run(e, run, sae_module.get());
    auto policy = load_tiny_model();
    // The run continues from the adapter that PEFT made and saved (B != 0: the policy is not its
    // reference at step 1).
    auto adapters = lm::LoraAdapters::load_peft(*policy, test::fixture(e.at("adapter").get<std::string>()));
    const auto& lora = e.at("lora");
    CHECK(adapters.options().r == lora.at("r").get<int64_t>());
    CHECK(adapters.options().alpha == lora.at("lora_alpha").get<double>());
    CHECK(adapters.options().dropout == 0.0);
    PreferenceTrainer trainer(r.options, policy, r.pairs, r.probe);
    trainer.use_lora(&adapters);
    if (r.options.method == Method::Kto) trainer.use_kto_labels(r.kto_desirable);
    // The reference is the policy with its adapters off, as TRL's for a PEFT model without ref_model.
    trainer.precompute_reference(policy);
    std::vector<StepMetrics> reports;
    trainer.train([&](const StepMetrics& m) { reports.push_back(m); });
    Deviations dev;
    check_steps(name, r.options, run, reports, dev);

    // Every final adapter tensor, under PEFT's names less base_model.model.
    lm::SafetensorsFile weights(test::fixture("fpo/lora_training/weights.safetensors"));
    std::set<std::string> expected_names;
    for (const auto& info : weights.tensors()) {
      const auto slash = info.name.find('/');
      if (info.name.substr(0, slash) == name) expected_names.insert(info.name.substr(slash + 1));
    }
    std::set<std::string> trained_names;
    for (const auto& [param, tensor] : adapters.named_parameters()) {
      INFO(name << " final " << param);
      trained_names.insert(param);
      REQUIRE(expected_names.count(param) == 1);
      check_tensor(tensor, weights.load(name + "/" + param), dev);
    }
    CHECK(trained_names == expected_names);
    // lora_A and lora_B of each target in each of the model's 3 layers.
    CHECK(trained_names.size() == 2 * 3 * lora.at("target_modules").size());
    // The base stays frozen: bitwise the model as loaded.
    const auto base = load_tiny_model()->named_parameters();
    for (const auto& p : policy->named_parameters()) {
      INFO(name << " base " << p.key());
      CHECK(torch::equal(p.value(), base[p.key()]));
    }
    print_deviations(name, dev);
  }
}
