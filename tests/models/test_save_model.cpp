// save_pretrained writes an HF model directory that loads back to identical weights, single-file
// and sharded (with the index transformers reads).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/checkpoint/save_model.h"
#include "models/model_fixtures.h"

using namespace fpokit;

TEST_CASE("save_pretrained round-trips single-file and sharded", "[models][save]") {
  const auto name = GENERATE(std::string("llama-gqa"), std::string("gpt2"), std::string("gemma2-swa-softcap"));
  const int64_t shard = GENERATE(int64_t{5'000'000'000}, int64_t{20'000});
  DYNAMIC_SECTION(name << " shard " << shard) {
    test::TempDir tmp;
    const auto src = test::model_fixture(name);
    auto model = lm::load_model(src, {torch::kCPU, torch::kFloat32});
    {
      torch::NoGradGuard g;
      for (auto& p : model->parameters()) p.add_(0.25);  // differ from the source checkpoint
    }
    lm::save_pretrained(*model, src, tmp / "out", {shard});
    const bool sharded = std::filesystem::exists(tmp / "out/model.safetensors.index.json");
    CHECK(sharded == (shard < 1'000'000));
    CHECK(std::filesystem::exists(tmp / "out/config.json"));
    auto again = lm::load_model(tmp / "out", {torch::kCPU, torch::kFloat32});
    auto a = model->named_parameters();
    auto b = again->named_parameters();
    REQUIRE(a.size() == b.size());
    for (const auto& p : a) {
      INFO(p.key());
      CHECK(torch::equal(p.value(), b[p.key()]));
    }
  }
}

TEST_CASE("save_pretrained declares the saved dtype in config.json", "[models][save]") {
  test::TempDir tmp;
  const auto src = test::model_fixture("llama-gqa");
  auto model = lm::load_model(src, {torch::kCPU, torch::kBFloat16});
  lm::save_pretrained(*model, src, tmp / "out");
  std::ifstream in(tmp / "out/config.json");
  const auto config = nlohmann::json::parse(in);
  const auto key = config.contains("dtype") ? "dtype" : "torch_dtype";
  CHECK(config.at(key) == "bfloat16");
  auto again = lm::load_model(tmp / "out", {torch::kCPU, std::nullopt});
  CHECK(again->named_parameters()["model.norm.weight"].scalar_type() == torch::kFloat32);  // CPU default
  CHECK(lm::load_model_config(tmp / "out").torch_dtype == "bfloat16");
}
