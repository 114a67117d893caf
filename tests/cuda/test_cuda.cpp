// GPU checks (ctest label `cuda`; excluded from scripts/test.sh, run on a machine with a GPU:
// `ctest -L cuda`). Each compares the CUDA result with the CPU one, which the CPU suites tie to
// the HF/PyTorch references.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <map>
#include <optional>

#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/sae/model/sae_losses.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "fpo/trainer_options.h"
#include "models/model_fixtures.h"

using namespace fpokit;
using test::max_abs_diff_on;
using test::model_fixture;

TEST_CASE("CUDA forward matches the CPU forward in float32 and closely in bfloat16", "[cuda]") {
  REQUIRE(torch::cuda::is_available());
  const auto name = GENERATE(from_range(test::model_fixture_names()));
  DYNAMIC_SECTION(name) {
    const lm::SafetensorsFile ref(model_fixture(name) / "reference.safetensors");
    const auto ids = ref.load("input_ids");
    const auto mask = ref.load("attention_mask");
    const auto reference = ref.load("logits");
    torch::NoGradGuard g;
    auto gpu = lm::load_model(model_fixture(name), {torch::Device(torch::kCUDA), torch::kFloat32});
    const auto logits = gpu->forward({ids.cuda(), mask.cuda()}).cpu();
    CHECK(max_abs_diff_on(logits, reference, mask) < 1e-4);
    auto bf16 = lm::load_model(model_fixture(name), {torch::Device(torch::kCUDA), torch::kBFloat16});
    const auto logits16 = bf16->forward({ids.cuda(), mask.cuda()}).cpu().to(torch::kFloat32);
    // bf16 keeps ~3 significant digits: compare against the logits' scale.
    const double scale = reference.abs().max().item<double>();
    CHECK(max_abs_diff_on(logits16, reference, mask) < 0.05 * std::max(scale, 1.0));
  }
}

TEST_CASE("CUDA sparse SAE training path matches the CPU dense path", "[cuda]") {
  REQUIRE(torch::cuda::is_available());
  sae::SaeConfig c;
  c.architecture = GENERATE(sae::Architecture::TopK, sae::Architecture::BatchTopK);
  c.d_in = 64;
  c.d_sae = 512;
  c.k = 8;
  sae::SparseAutoencoder cpu(c);
  sae::initialize_weights(*cpu, sae::default_init_options(c.architecture, 1));
  cpu->train();
  sae::SparseAutoencoder gpu(c);
  {
    torch::NoGradGuard g;
    for (auto& p : gpu->named_parameters()) p.value().copy_(cpu->named_parameters()[p.key()]);
  }
  gpu->to(torch::kCUDA);
  gpu->train();
  torch::manual_seed(3);
  const auto x = torch::randn({256, 64});
  auto dead = torch::zeros({512}, torch::kBool);
  dead.slice(0, 0, 100).fill_(true);
  sae::LossOptions dense, sparse;
  sparse.sparse_kernels = true;
  auto a = sae::training_loss(*cpu, x, dense, dead);
  a.total.backward();
  auto b = sae::training_loss(*gpu, x.cuda(), sparse, dead.cuda());
  b.total.backward();
  CHECK(std::abs(a.total.item<double>() - b.total.item<double>()) < 1e-4 * std::max(1.0, a.total.item<double>()));
  for (const auto& p : cpu->named_parameters()) {
    INFO(p.key());
    CHECK((p.value().grad() - gpu->named_parameters()[p.key()].grad().cpu()).abs().max().item<double>() < 1e-4);
  }
}

namespace {

// 8 pairs of random token ids (ids < 300 fit every fixture's vocabulary).
std::vector<fpo::TokenizedPair> cuda_test_pairs() {
  torch::manual_seed(21);
  std::vector<fpo::TokenizedPair> out;
  for (int i = 0; i < 8; ++i) {
    const auto prompt = torch::randint(10, 300, {3 + i % 3}, torch::kInt64);
    fpo::TokenizedPair p;
    for (auto* s : {&p.chosen, &p.rejected}) {
      const auto completion = torch::randint(10, 300, {2 + (s == &p.chosen ? i % 2 : 1)}, torch::kInt64);
      const auto ids = torch::cat({prompt, completion});
      s->input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
      s->completion_mask.assign(static_cast<size_t>(prompt.numel()), 0);
      s->completion_mask.resize(s->input_ids.size(), 1);
    }
    p.prompt_length = prompt.numel();
    out.push_back(std::move(p));
  }
  return out;
}

struct CudaRun {
  std::vector<std::map<std::string, double>> steps;
  lm::CausalLM policy;
};

CudaRun train_on(const torch::Device& device, fpo::Method method, torch::ScalarType param_dtype,
                 std::optional<torch::ScalarType> autocast, bool lora, bool checkpointing,
                 const sae::SparseAutoencoderImpl* sae_module) {
  auto o = test::constant_lr_options(method, 1e-3, 3, 8);
  o.device = device;
  o.autocast_dtype = autocast;
  o.gradient_checkpointing = checkpointing;
  o.loss.fpo.top_k = 16;
  auto policy = lm::load_model(model_fixture("llama-gqa"), {device, param_dtype});
  std::optional<lm::LoraAdapters> adapters;
  if (lora) {
    lm::LoraOptions lo;
    lo.r = 4;
    lo.targets = {"q_proj", "v_proj", "down_proj"};
    adapters = lm::LoraAdapters::attach(*policy, lo);
    torch::NoGradGuard g;
    for (auto& p : adapters->parameters()) p.fill_(0.01);  // B != 0: the adapters matter from step 1
  }
  fpo::FeatureProbe probe;
  if (sae_module) probe = {sae_module, lm::HookName::parse("blocks.1.hook_resid_post"), fpo::FpoVariant::Paper};
  fpo::PreferenceTrainer trainer(o, policy, cuda_test_pairs(), probe);
  if (adapters) trainer.use_lora(&*adapters);
  trainer.precompute_reference(lora ? policy : lm::load_model(model_fixture("llama-gqa"), {device, param_dtype}));
  CudaRun r;
  r.policy = policy;
  trainer.train([&](const fpo::StepMetrics& m) { r.steps.push_back(m.values); });
  return r;
}

}  // namespace

TEST_CASE("CUDA preference training matches CPU training in float32", "[cuda]") {
  REQUIRE(torch::cuda::is_available());
  const auto method = GENERATE(fpo::Method::Dpo, fpo::Method::Tdpo1, fpo::Method::Simpo, fpo::Method::Fpo);
  const bool lora = GENERATE(false, true);
  DYNAMIC_SECTION(fpo::method_name(method) << (lora ? " lora" : "")) {
    auto cpu_sae = test::random_fixture_sae(torch::kCPU);
    auto gpu_sae = test::random_fixture_sae(torch::Device(torch::kCUDA));
    const bool fpo = method == fpo::Method::Fpo;
    const auto cpu =
        train_on(torch::kCPU, method, torch::kFloat32, std::nullopt, lora, false, fpo ? cpu_sae.get() : nullptr);
    const auto gpu = train_on(torch::Device(torch::kCUDA), method, torch::kFloat32, std::nullopt, lora,
                              /*checkpointing=*/true, fpo ? gpu_sae.get() : nullptr);
    REQUIRE(cpu.steps.size() == gpu.steps.size());
    for (size_t i = 0; i < cpu.steps.size(); ++i)
      for (const auto& [k, v] : cpu.steps[i]) {
        if (k == "tokens/s") continue;
        INFO("step " << i + 1 << " " << k);
        CHECK(gpu.steps[i].at(k) == Approx(v).epsilon(1e-3).margin(1e-5));
      }
    for (const auto& p : cpu.policy->named_parameters()) {
      INFO(p.key());
      CHECK((p.value() - gpu.policy->named_parameters()[p.key()].cpu()).abs().max().item<double>() < 1e-4);
    }
  }
}

TEST_CASE("CUDA bfloat16 training keeps float32 master weights and learns", "[cuda]") {
  REQUIRE(torch::cuda::is_available());
  const auto mixed =
      train_on(torch::Device(torch::kCUDA), fpo::Method::Dpo, torch::kFloat32, torch::kBFloat16, false, true, nullptr);
  CHECK(mixed.policy->named_parameters()["model.norm.weight"].scalar_type() == torch::kFloat32);
  CHECK(mixed.steps.front().at("rewards/margins") == 0.0);  // policy and reference share the autocast forward
  CHECK(mixed.steps.back().at("loss") < mixed.steps.front().at("loss"));
  const auto fp32 =
      train_on(torch::Device(torch::kCUDA), fpo::Method::Dpo, torch::kFloat32, std::nullopt, false, false, nullptr);
  CHECK(mixed.steps.front().at("logps/chosen") == Approx(fp32.steps.front().at("logps/chosen")).epsilon(0.02));
}

TEST_CASE("tensors on the GPU are written from their CPU copy", "[cuda][safetensors]") {
  REQUIRE(torch::cuda::is_available());
  // Transposed: not contiguous on the device either.
  const auto t = torch::arange(12, torch::kFloat32).reshape({3, 4}).to(torch::kCUDA).t();
  test::TempDir tmp;
  lm::write_safetensors(tmp / "g.safetensors", {{"t", t}});
  CHECK(torch::equal(lm::SafetensorsFile(tmp / "g.safetensors").load("t"), t.cpu()));
}
