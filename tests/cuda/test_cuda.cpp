// GPU checks (ctest label `cuda`; excluded from scripts/test.sh, run on a machine with a GPU:
// `ctest -L cuda`). Each compares the CUDA result with the CPU one, which the CPU suites tie to
// the HF/PyTorch references.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/lm/load_model.h"
#include "fpokit/sae/sae_losses.h"
#include "fpokit/sae/sparse_autoencoder.h"
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
