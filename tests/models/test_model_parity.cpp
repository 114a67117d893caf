// Golden parity with HF transformers: logits and every residual-stream hook of each fixture model
// (tests/fixtures/models/*, made by generate_models.py) within 1e-4 max abs in float32.
// LibTorch first: c10's logging header defines its own CHECK (fatal on failure, never counted);
// including catch.hpp after it makes CHECK Catch's again.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <set>

#include "fpokit/lm/model/architecture_registry.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/kv_cache.h"
#include "fpokit/lm/model/load_model.h"
#include "model_fixtures.h"

using namespace fpokit;
using fpokit::test::max_abs_diff_on;
using fpokit::test::model_fixture;

namespace {
constexpr double kTolerance = 1e-4;
}

TEST_CASE("every supported architecture has golden fixtures", "[models]") {
  std::set<std::string> architectures;
  for (const auto& name : test::model_fixture_names()) {
    architectures.insert(lm::load_model_config(model_fixture(name)).architecture);
  }
  for (const auto& a : lm::architectures()) {
    INFO("architecture " << a.name);
    CHECK(architectures.count(a.name) == 1);
  }
}

TEST_CASE("logits and residual hooks match HF transformers", "[models][parity]") {
  const auto name = GENERATE(from_range(test::model_fixture_names()));
  INFO("fixture " << name);
  torch::NoGradGuard no_grad;
  const auto model = lm::load_model(model_fixture(name));
  const lm::SafetensorsFile ref(model_fixture(name) / "reference.safetensors");
  const auto ids = ref.load("input_ids");
  const auto mask = ref.load("attention_mask");
  const int64_t layers = model->config().num_layers;

  lm::Hooks hooks;
  for (int64_t l = 0; l < layers; ++l) {
    hooks.capture({l, lm::HookPoint::ResidPre}).capture({l, lm::HookPoint::ResidPost});
    if (model->has_resid_mid()) hooks.capture({l, lm::HookPoint::ResidMid});
  }
  const auto logits = model->forward({ids, mask}, &hooks);
  REQUIRE(logits.defined());
  CHECK(max_abs_diff_on(logits, ref.load("logits"), mask) < kTolerance);

  const auto& got = hooks.captured();
  for (int64_t l = 0; l < layers; ++l) {
    INFO("layer " << l);
    CHECK(max_abs_diff_on(got.at({l, lm::HookPoint::ResidPre}), ref.load("hidden_states." + std::to_string(l)),
                          mask) < kTolerance);
    // HF's last hidden state has the final norm applied; the block output is recorded separately.
    const std::string post = l + 1 < layers ? "hidden_states." + std::to_string(l + 1) : "resid_post_last";
    CHECK(max_abs_diff_on(got.at({l, lm::HookPoint::ResidPost}), ref.load(post), mask) < kTolerance);
    if (model->has_resid_mid()) {
      CHECK(max_abs_diff_on(got.at({l, lm::HookPoint::ResidMid}), ref.load("resid_mid." + std::to_string(l)),
                            mask) < kTolerance);
    }
  }
}

TEST_CASE("incremental decoding with a KV cache equals the full forward", "[models][kv_cache]") {
  const auto name = GENERATE(from_range(test::model_fixture_names()));
  INFO("fixture " << name);
  torch::NoGradGuard no_grad;
  const auto model = lm::load_model(model_fixture(name));
  const lm::SafetensorsFile ref(model_fixture(name) / "reference.safetensors");
  const auto ids = ref.load("input_ids").narrow(0, 0, 1);  // the unpadded first row
  const auto full = model->forward({ids, {}});
  lm::KVCache cache(model->config().num_layers);
  // A prompt of 5 tokens, then one token at a time.
  std::vector<torch::Tensor> steps{model->forward({ids.narrow(1, 0, 5), {}}, nullptr, &cache)};
  for (int64_t t = 5; t < ids.size(1); ++t) steps.push_back(model->forward({ids.narrow(1, t, 1), {}}, nullptr, &cache));
  const auto incremental = torch::cat(steps, 1);
  CHECK(cache.length() == ids.size(1));
  CHECK((incremental - full).abs().max().item<double>() < kTolerance);
}

TEST_CASE("a read hook can stop the forward after its layer", "[models][hooks]") {
  const auto name = test::model_fixture_names().front();
  torch::NoGradGuard no_grad;
  const auto model = lm::load_model(model_fixture(name));
  const lm::SafetensorsFile ref(model_fixture(name) / "reference.safetensors");
  const auto ids = ref.load("input_ids");
  const auto mask = ref.load("attention_mask");
  lm::Hooks hooks;
  hooks.capture({0, lm::HookPoint::ResidPost}).stop_after_last_read();
  const auto logits = model->forward({ids, mask}, &hooks);
  CHECK_FALSE(logits.defined());
  CHECK(max_abs_diff_on(hooks.captured().at({0, lm::HookPoint::ResidPost}), ref.load("hidden_states.1"), mask) <
        kTolerance);
}

TEST_CASE("write hooks replace the residual stream", "[models][hooks]") {
  const auto name = test::model_fixture_names().front();
  torch::NoGradGuard no_grad;
  const auto model = lm::load_model(model_fixture(name));
  const lm::SafetensorsFile ref(model_fixture(name) / "reference.safetensors");
  const auto ids = ref.load("input_ids");
  const auto mask = ref.load("attention_mask");
  const auto clean = model->forward({ids, mask});

  SECTION("an identity write changes nothing") {
    lm::Hooks hooks;
    hooks.on_write({0, lm::HookPoint::ResidPost}, [](const lm::HookName&, const torch::Tensor& x) { return x; });
    CHECK(torch::equal(model->forward({ids, mask}, &hooks), clean));
  }
  SECTION("splicing in another activation is what the rest of the model sees") {
    // Replace resid_pre of layer 1 with HF's hidden_states[1] of a *different* batch row order:
    // the logits must become HF's logits of that row order.
    const auto perm = torch::tensor({0, 0, 0});
    const auto hs1 = ref.load("hidden_states.1").index_select(0, perm);
    lm::Hooks hooks;
    hooks.on_write({1, lm::HookPoint::ResidPre}, [&](const lm::HookName&, const torch::Tensor&) { return hs1; });
    const auto mask0 = mask.index_select(0, perm);
    const auto logits = model->forward({ids, mask0}, &hooks);
    CHECK(max_abs_diff_on(logits, ref.load("logits").index_select(0, perm), mask0) < kTolerance);
    CHECK(max_abs_diff_on(logits, clean, mask) > 1e-2);  // rows 1 and 2 did change
  }
}

TEST_CASE("hooks outside the model are rejected with the layer range", "[models][hooks]") {
  const auto model = lm::load_model(model_fixture(test::model_fixture_names().front()));
  lm::Hooks hooks;
  hooks.capture(lm::HookName::parse("blocks.99.hook_resid_post"));
  CHECK_THROWS_WITH(hooks.validate(model->config(), model->has_resid_mid()),
                    Catch::Contains("blocks.99.hook_resid_post") && Catch::Contains("out of range"));
  CHECK_THROWS_AS(lm::HookName::parse("blocks.x.hook_resid_post"), InputError);
  CHECK_THROWS_AS(lm::HookName::parse("blocks.1.hook_attn_out"), InputError);
  CHECK(lm::HookName::parse("blocks.12.hook_resid_mid").str() == "blocks.12.hook_resid_mid");
}
