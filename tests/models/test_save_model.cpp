// save_pretrained writes an HF model directory that loads back to identical weights, single-file
// and sharded (with the index transformers reads).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/lm/load_model.h"
#include "fpokit/lm/save_model.h"
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
