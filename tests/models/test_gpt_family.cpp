// GPT-2 and GPT-NeoX specifics beyond the golden parity of test_model_parity.cpp: config.json
// keys and defaults as transformers 5.23 reads them, the checkpoint spellings older or newer
// writers use, and the errors for what fpokit rejects.
// LibTorch first: c10's logging header defines its own CHECK (fatal on failure, never counted);
// including catch.hpp after it makes CHECK Catch's again.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_file.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/kv_cache.h"
#include "fpokit/lm/model/load_model.h"
#include "model_fixtures.h"

using namespace fpokit;
using fpokit::test::model_fixture;
using fpokit::test::TempDir;

namespace {

void write_json(const std::filesystem::path& path, const nlohmann::json& json) {
  std::ofstream(path) << json.dump(2);
}

nlohmann::json fixture_config(const std::string& name) { return core::read_json_file(model_fixture(name) / "config.json"); }

// A model directory with `config` and the tensors of fixture `name`'s checkpoint, renamed by
// `rename` (an empty result drops the tensor), plus `extra` tensors.
void write_model_dir(const std::filesystem::path& dir, const nlohmann::json& config, const std::string& name,
                     const std::function<std::string(const std::string&)>& rename,
                     const std::vector<std::pair<std::string, torch::Tensor>>& extra = {}) {
  write_json(dir / "config.json", config);
  const lm::SafetensorsFile source(model_fixture(name) / "model.safetensors");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& info : source.tensors()) {
    const std::string renamed = rename(info.name);
    if (!renamed.empty()) tensors.emplace_back(renamed, source.load(info.name));
  }
  tensors.insert(tensors.end(), extra.begin(), extra.end());
  lm::write_safetensors(dir / "model.safetensors", tensors);
}

const auto keep_name = [](const std::string& n) { return n; };

}  // namespace

TEST_CASE("GPT-2 config.json: transformers' defaults and rejected values", "[models][gpt2]") {
  TempDir dir;
  nlohmann::json cfg = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", 100},
                        {"n_embd", 32},  {"n_layer", 2},  {"n_head", 4},  {"n_inner", nullptr}};
  write_json(dir / "config.json", cfg);
  const auto c = lm::load_model_config(dir.path());
  CHECK(c.architecture == "GPT2LMHeadModel");
  CHECK(c.intermediate_size == 4 * 32);  // n_inner null -> 4 * n_embd (GPT2Block)
  CHECK(c.max_position_embeddings == 1024);
  CHECK(c.head_dim == 8);
  CHECK(c.tie_word_embeddings);
  CHECK(c.hidden_act == "gelu_new");
  CHECK(c.norm_eps == Approx(1e-5));

  SECTION("cross-attention is not supported") {
    cfg["add_cross_attention"] = true;
    write_json(dir / "config.json", cfg);
    CHECK_THROWS_WITH(lm::load_model_config(dir.path()), Catch::Contains("add_cross_attention"));
  }
  SECTION("an unknown activation names the field") {
    cfg["activation_function"] = "swiglu";
    write_json(dir / "config.json", cfg);
    CHECK_THROWS_AS(lm::load_model_config(dir.path()), ConfigError);
    CHECK_THROWS_WITH(lm::load_model_config(dir.path()), Catch::Contains("activation_function"));
  }
  SECTION("n_embd must split into n_head heads") {
    cfg["n_head"] = 5;
    write_json(dir / "config.json", cfg);
    CHECK_THROWS_WITH(lm::load_model_config(dir.path()), Catch::Contains("n_head"));
  }
}

TEST_CASE("GPT-NeoX config.json: RoPE keys as transformers 5.23 reads them", "[models][gpt_neox]") {
  TempDir dir;
  nlohmann::json cfg = {{"architectures", {"GPTNeoXForCausalLM"}}, {"model_type", "gpt_neox"},
                        {"vocab_size", 100}, {"hidden_size", 64}, {"intermediate_size", 128},
                        {"num_hidden_layers", 2}, {"num_attention_heads", 4}};
  const auto load = [&] {
    write_json(dir / "config.json", cfg);
    return lm::load_model_config(dir.path());
  };
  // Values from GPTNeoXConfig(**kwargs).rope_parameters in transformers 5.23.
  SECTION("defaults: theta 10000, a quarter of each head rotated, parallel residual with biases") {
    const auto c = load();
    CHECK(c.rope.theta == 10000.0);
    CHECK(c.rope.partial_rotary_factor == 0.25);
    CHECK(c.use_parallel_residual);
    CHECK(c.attention_bias);
    CHECK_FALSE(c.tie_word_embeddings);
  }
  SECTION("Pythia's rotary_emb_base and rotary_pct; a top-level rope_theta is ignored") {
    cfg["rotary_emb_base"] = 5000;
    cfg["rotary_pct"] = 0.5;
    cfg["rope_theta"] = 7000.0;
    const auto c = load();
    CHECK(c.rope.theta == 5000.0);
    CHECK(c.rope.partial_rotary_factor == 0.5);
  }
  SECTION("rope_parameters take precedence over the legacy keys") {
    cfg["rotary_emb_base"] = 5000;
    cfg["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 3000.0}, {"partial_rotary_factor", 1.0}};
    const auto c = load();
    CHECK(c.rope.theta == 3000.0);
    CHECK(c.rope.partial_rotary_factor == 1.0);
  }
  SECTION("a rotated fraction that leaves an odd number of dimensions is rejected") {
    cfg["rotary_pct"] = 0.2;  // 16 * 0.2 = 3
    CHECK_THROWS_WITH(load(), Catch::Contains("rotary_pct"));
  }
}

TEST_CASE("GPT-2 positions beyond n_positions are an input error", "[models][gpt2]") {
  torch::NoGradGuard no_grad;
  const auto model = lm::load_model(model_fixture("gpt2"));
  const int64_t n = model->config().max_position_embeddings;
  CHECK_THROWS_AS(model->forward({torch::zeros({1, n + 1}, torch::kInt64), {}}), InputError);
  lm::KVCache cache(model->config().num_layers);
  model->forward({torch::zeros({1, n - 1}, torch::kInt64), {}}, nullptr, &cache);
  CHECK_NOTHROW(model->forward({torch::zeros({1, 1}, torch::kInt64), {}}, nullptr, &cache));
  CHECK_THROWS_WITH(model->forward({torch::zeros({1, 1}, torch::kInt64), {}}, nullptr, &cache),
                    Catch::Contains("n_positions"));
}

TEST_CASE("parallel-residual GPT-NeoX has no hook_resid_mid but the sequential one has", "[models][gpt_neox][hooks]") {
  const auto parallel = lm::load_model(model_fixture("pythia-parallel"));
  const auto sequential = lm::load_model(model_fixture("neox-sequential"));
  lm::Hooks hooks;
  hooks.capture(lm::HookName::parse("blocks.1.hook_resid_mid"));
  CHECK_THROWS_WITH(hooks.validate(parallel->config(), parallel->has_resid_mid()), Catch::Contains("hook_resid_mid"));
  CHECK_NOTHROW(hooks.validate(sequential->config(), sequential->has_resid_mid()));
}

TEST_CASE("GPT-NeoX loads old buffers and an lm_head-named output projection", "[models][gpt_neox]") {
  torch::NoGradGuard no_grad;
  TempDir dir;
  const auto cfg = fixture_config("pythia-parallel");
  // transformers 4.x saved the causal-mask and rotary buffers; a writer without transformers 5's
  // save-time renaming calls embed_out lm_head.
  write_model_dir(
      dir.path(), cfg, "pythia-parallel",
      [](const std::string& n) { return n == "embed_out.weight" ? std::string("lm_head.weight") : n; },
      {{"gpt_neox.layers.0.attention.bias", torch::ones({1, 1, 8, 8}).tril()},
       {"gpt_neox.layers.0.attention.masked_bias", torch::tensor(-1e9)},
       {"gpt_neox.layers.0.attention.rotary_emb.inv_freq", torch::ones({2})}});
  const auto model = lm::load_model(dir.path());
  const auto reference = lm::load_model(model_fixture("pythia-parallel"));
  const auto ids = torch::arange(10, torch::kInt64).view({1, 10});
  CHECK(torch::equal(model->forward({ids, {}}), reference->forward({ids, {}})));
}

TEST_CASE("GPT-2 and GPT-NeoX loading stays strict", "[models][gpt2][gpt_neox]") {
  TempDir dir;
  SECTION("a GPT-2 checkpoint without a block tensor") {
    write_model_dir(dir.path(), fixture_config("gpt2"), "gpt2",
                    [](const std::string& n) { return n == "transformer.h.1.mlp.c_fc.weight" ? std::string() : n; });
    CHECK_THROWS_AS(lm::load_model(dir.path()), CheckpointError);
    CHECK_THROWS_WITH(lm::load_model(dir.path()), Catch::Contains("missing 1") &&
                                                      Catch::Contains("transformer.h.1.mlp.c_fc.weight"));
  }
  SECTION("an untied GPT-2 needs its lm_head") {
    auto cfg = fixture_config("gpt2");
    cfg["tie_word_embeddings"] = false;
    write_model_dir(dir.path(), cfg, "gpt2", keep_name);
    CHECK_THROWS_WITH(lm::load_model(dir.path()), Catch::Contains("lm_head.weight"));
  }
  SECTION("a GPT-NeoX checkpoint with a tensor the model does not have") {
    write_model_dir(dir.path(), fixture_config("neox-sequential"), "neox-sequential", keep_name,
                    {{"gpt_neox.layers.0.attention.query_key_value.bias", torch::zeros({144})}});
    CHECK_THROWS_WITH(lm::load_model(dir.path()), Catch::Contains("unexpected 1") &&
                                                      Catch::Contains("query_key_value.bias"));
  }
}
