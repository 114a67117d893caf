// LoRA adapters (lm/lora.h) against PEFT: a PEFT-made adapter (tests/fixtures/generate_lora.py)
// gives PEFT's logits adapted, disabled and merged; fpokit's own adapters start equal to the base,
// write PEFT's file layout and read back; bad adapters and targets give one clear error.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "models/model_fixtures.h"

using namespace fpokit;

namespace {

const std::filesystem::path kPeftAdapter = test::fixture("lora") / "peft-llama-gqa";

struct LoraExpected {
  explicit LoraExpected(const std::filesystem::path& adapter = kPeftAdapter) : file(adapter / "expected.safetensors") {}
  lm::SafetensorsFile file;
  torch::Tensor ids = file.load("input_ids").to(torch::kInt64);
  torch::Tensor mask = file.load("attention_mask").to(torch::kInt64);
};

torch::Tensor logits_of(lm::CausalLM& model, const LoraExpected& e) {
  torch::NoGradGuard g;
  return model->forward({e.ids, e.mask});
}

}  // namespace

TEST_CASE("a PEFT adapter gives PEFT's logits adapted disabled and merged", "[models][lora]") {
  LoraExpected e;
  auto model = lm::load_model(test::model_fixture("llama-gqa"), {torch::kCPU, torch::kFloat32});
  model->eval();
  auto adapters = lm::LoraAdapters::load_peft(*model, kPeftAdapter);
  CHECK(adapters.size() == 3 * static_cast<size_t>(model->config().num_layers));
  const auto& o = adapters.options();
  CHECK(o.r == 4);
  CHECK(o.alpha == 12);

  const auto adapted = logits_of(model, e);
  const auto expected_adapted = e.file.load("logits_adapted");
  // The adapter moves the logits by several units, so a 1e-4 match cannot come from the base.
  CHECK((expected_adapted - e.file.load("logits_base")).abs().max().item<double>() > 0.5);
  CHECK(test::max_abs_diff_on(adapted, expected_adapted, e.mask) < 1e-4);

  adapters.set_enabled(false);
  CHECK(test::max_abs_diff_on(logits_of(model, e), e.file.load("logits_base"), e.mask) < 1e-4);
  adapters.set_enabled(true);

  adapters.merge();
  CHECK(adapters.size() == 0);
  CHECK(test::max_abs_diff_on(logits_of(model, e), e.file.load("logits_merged"), e.mask) < 1e-4);
}

TEST_CASE("a PEFT adapter on GPT-2's Conv1D layers gives PEFT's logits", "[models][lora]") {
  const auto dir = test::fixture("lora") / "peft-gpt2";
  LoraExpected e(dir);
  auto model = lm::load_model(test::model_fixture("gpt2"), {torch::kCPU, torch::kFloat32});
  model->eval();
  auto adapters = lm::LoraAdapters::load_peft(*model, dir);
  CHECK(adapters.size() == 2 * static_cast<size_t>(model->config().num_layers));
  CHECK(test::max_abs_diff_on(logits_of(model, e), e.file.load("logits_adapted"), e.mask) < 1e-4);
  adapters.set_enabled(false);
  CHECK(test::max_abs_diff_on(logits_of(model, e), e.file.load("logits_base"), e.mask) < 1e-4);
  adapters.set_enabled(true);
  test::TempDir tmp;
  adapters.save_peft(tmp / "a", "gpt2");
  std::ifstream cfg(tmp / "a" / "adapter_config.json");
  CHECK(nlohmann::json::parse(cfg).at("fan_in_fan_out") == true);
  adapters.merge();
  CHECK(test::max_abs_diff_on(logits_of(model, e), e.file.load("logits_merged"), e.mask) < 1e-4);
}

TEST_CASE("fresh adapters start at the base and save PEFT's layout", "[models][lora]") {
  LoraExpected e;
  auto model = lm::load_model(test::model_fixture("llama-gqa"), {torch::kCPU, torch::kFloat32});
  model->eval();
  const auto base = logits_of(model, e);
  lm::LoraOptions options;
  options.r = 4;
  options.alpha = 12;
  options.targets = {"q_proj", "v_proj", "down_proj"};
  auto adapters = lm::LoraAdapters::attach(*model, options);
  // Base frozen, adapters trainable; B = 0 makes the adapted model the base.
  for (const auto& p : model->parameters()) CHECK_FALSE(p.requires_grad());
  for (const auto& p : adapters.parameters()) CHECK(p.requires_grad());
  CHECK(torch::equal(logits_of(model, e), base));

  test::TempDir tmp;
  {
    torch::NoGradGuard g;
    for (auto& p : adapters.parameters()) p.normal_(0.0, 0.2);
  }
  const auto adapted = logits_of(model, e);
  CHECK((adapted - base).abs().max().item<double>() > 1e-2);
  adapters.save_peft(tmp / "adapter", "tests/fixtures/models/llama-gqa");

  // Exactly the names, shapes and dtype PEFT wrote for the same configuration.
  lm::SafetensorsFile ours(tmp / "adapter" / "adapter_model.safetensors");
  lm::SafetensorsFile peft(kPeftAdapter / "adapter_model.safetensors");
  REQUIRE(ours.tensors().size() == peft.tensors().size());
  for (const auto& info : peft.tensors()) {
    INFO(info.name);
    const auto* mine = ours.find(info.name);
    REQUIRE(mine != nullptr);
    CHECK(mine->shape == info.shape);
    CHECK(mine->dtype == info.dtype);
  }
  std::ifstream cfg(tmp / "adapter" / "adapter_config.json");
  const auto config = nlohmann::json::parse(cfg);
  CHECK(config.at("peft_type") == "LORA");
  CHECK(config.at("r") == 4);
  CHECK(config.at("lora_alpha") == 12.0);
  CHECK(config.at("target_modules") == nlohmann::json({"q_proj", "v_proj", "down_proj"}));

  // Read back onto a fresh copy of the base: the same adapted logits.
  auto again = lm::load_model(test::model_fixture("llama-gqa"), {torch::kCPU, torch::kFloat32});
  again->eval();
  auto loaded = lm::LoraAdapters::load_peft(*again, tmp / "adapter");
  CHECK(torch::allclose(logits_of(again, e), adapted, 0, 1e-6));
}

TEST_CASE("LoRA bad targets and bad adapters give one clear error", "[models][lora]") {
  auto model = lm::load_model(test::model_fixture("llama-gqa"), {torch::kCPU, torch::kFloat32});
  lm::LoraOptions options;
  options.targets = {"q_proj", "qkv_proj"};
  CHECK_THROWS_WITH(lm::LoraAdapters::attach(*model, options),
                    Catch::Contains("no Linear or Conv1D layer named qkv_proj") && Catch::Contains("o_proj"));
  options.targets = {"q_proj"};
  options.r = 0;
  CHECK_THROWS_AS(lm::LoraAdapters::attach(*model, options), ConfigError);

  test::TempDir tmp;
  std::filesystem::create_directories(tmp / "a");
  std::filesystem::copy_file(kPeftAdapter / "adapter_config.json", tmp / "a" / "adapter_config.json");
  // The right names with the wrong rank: every tensor is named in one message.
  {
    std::ifstream in(kPeftAdapter / "adapter_config.json");
    auto cfg = nlohmann::json::parse(in);
    cfg["r"] = 8;
    std::ofstream(tmp / "a" / "adapter_config.json") << cfg.dump();
  }
  std::filesystem::copy_file(kPeftAdapter / "adapter_model.safetensors", tmp / "a" / "adapter_model.safetensors");
  auto fresh = lm::load_model(test::model_fixture("llama-gqa"), {torch::kCPU, torch::kFloat32});
  CHECK_THROWS_WITH(lm::LoraAdapters::load_peft(*fresh, tmp / "a"),
                    Catch::Contains("does not fit this model") &&
                        Catch::Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight has shape [4, 64], "
                                        "expected [8, 64]") &&
                        Catch::Contains("layers.1.mlp.down_proj.lora_B.weight"));
  {
    std::ifstream in(kPeftAdapter / "adapter_config.json");
    auto cfg = nlohmann::json::parse(in);
    cfg["use_dora"] = true;
    std::ofstream(tmp / "a" / "adapter_config.json") << cfg.dump();
  }
  CHECK_THROWS_WITH(lm::LoraAdapters::load_peft(*fresh, tmp / "a"), Catch::Contains("use_dora is not supported"));
  CHECK_THROWS_WITH(lm::LoraAdapters::load_peft(*fresh, tmp / "missing"), Catch::Contains("adapter_config.json: no such file"));
}
