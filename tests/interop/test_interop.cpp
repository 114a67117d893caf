// Files other tools must read, checked by those tools: transformers loads the models fpokit saves
// and PEFT the adapters it writes, and both compute fpokit's logits (within 1e-4, fp32) on the
// same ids. fpokit's side runs through the CLI (`fpokit train`, `fpokit forward`); the other side
// is tests/interop/check_hf_loads.py in the project venv (FPOKIT_PYTHON, given by CMake), one
// Python run per test, since importing torch and transformers is most of its time.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/lm/checkpoint/save_model.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "models/model_fixtures.h"
#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::quoted;
using test::repo_file;
using test::run_command;
using test::TempDir;

namespace {

const std::filesystem::path kTinyLlama = repo_file("models/tiny-llama");
const std::string kTrainFlags = " --model " + quoted(kTinyLlama) + " --data " +
                                quoted(repo_file("models/tiny-prefs.jsonl")) +
                                " --max-steps 2 --per-device-train-batch-size 4 --logging-steps 1 --quiet";

// Token-id lists of different lengths (so that the batch is padded) below every fixture's
// vocabulary size (256 at least).
nlohmann::json test_ids() {
  nlohmann::json lists = nlohmann::json::array();
  for (int length : {11, 7}) {
    std::vector<int64_t> ids;
    for (int i = 0; i < length; ++i) ids.push_back((37 * i + 11 * length + 3) % 251);
    lists.push_back(ids);
  }
  return lists;
}

// `fpokit forward` on `model` (and `adapter`), the logits written to `out`.
void fpokit_forward(const TempDir& tmp, const std::filesystem::path& model, const std::filesystem::path& out,
                    const std::filesystem::path& adapter = {}) {
  const auto ids_file = tmp / "ids.json";
  if (!std::filesystem::exists(ids_file)) test::write_bytes(ids_file, test_ids().dump());
  const auto r =
      run_command(fpokit_cmd("forward --model " + quoted(model) + " --input-ids " + quoted(ids_file) +
                             (adapter.empty() ? "" : " --adapter " + quoted(adapter)) + " --out " + quoted(out)));
  INFO("fpokit forward " << model << ": " << r.err);
  REQUIRE(r.exit_code == 0);
}

// Runs check_hf_loads.py on the cases; it prints one line per case and fails when any fails.
void check_with_transformers(const TempDir& tmp, const nlohmann::json& cases) {
  const auto manifest = tmp / "manifest.json";
  test::write_bytes(manifest, nlohmann::json{{"cases", cases}}.dump(2));
  const auto r = run_command(quoted(FPOKIT_PYTHON) + " " + quoted(repo_file("tests/interop/check_hf_loads.py")) + " " +
                             quoted(manifest));
  INFO("check_hf_loads.py stdout:\n" << r.out << "stderr:\n" << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out,
             Catch::Contains(std::to_string(cases.size()) + " of " + std::to_string(cases.size()) + " cases passed"));
}

// Moves every parameter by seeded noise, so that what transformers reads back is fpokit's
// writing and not the fixture it started from.
void perturb(torch::nn::Module& module, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& p : module.parameters()) p.add_(torch::randn_like(p) * 0.05);
}

}  // namespace

TEST_CASE("a model fine-tuned by train loads in transformers with fpokit's logits", "[interop][train]") {
  TempDir tmp;
  // A learning rate large enough that two steps move the logits well past the tolerance.
  const auto r = run_command(
      fpokit_cmd("train --method dpo --learning-rate 1e-3" + kTrainFlags + " --out " + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  fpokit_forward(tmp, tmp / "out/model", tmp / "model.logits.safetensors");
  check_with_transformers(tmp, nlohmann::json::array({{{"name", "train dpo (full fine-tune) of models/tiny-llama"},
                                                       {"model", (tmp / "out/model").string()},
                                                       {"fpokit_logits", (tmp / "model.logits.safetensors").string()},
                                                       {"source", kTinyLlama.string()}}}));
}

TEST_CASE("a LoRA adapter trained by train loads in PEFT with fpokit's logits", "[interop][train][lora]") {
  TempDir tmp;
  // Every Linear of the blocks adapted; B starts at zero, so the rate must move it in two steps.
  const auto r =
      run_command(fpokit_cmd("train --method dpo --learning-rate 1e-2 --lora-r 4 --lora-alpha 8"
                             " --lora-targets q_proj k_proj v_proj o_proj gate_proj up_proj down_proj"
                             " --merge" +
                             kTrainFlags + " --out " + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  fpokit_forward(tmp, kTinyLlama, tmp / "adapted.logits.safetensors", tmp / "out/adapter");
  fpokit_forward(tmp, tmp / "out/model", tmp / "merged.logits.safetensors");
  check_with_transformers(tmp,
                          nlohmann::json::array({{{"name", "train dpo --lora-r 4: models/tiny-llama + PEFT adapter"},
                                                  {"model", kTinyLlama.string()},
                                                  {"adapter", (tmp / "out/adapter").string()},
                                                  {"fpokit_logits", (tmp / "adapted.logits.safetensors").string()}},
                                                 {{"name", "train dpo --lora-r 4 --merge: the merged model"},
                                                  {"model", (tmp / "out/model").string()},
                                                  {"fpokit_logits", (tmp / "merged.logits.safetensors").string()},
                                                  {"source", kTinyLlama.string()}}}));
}

TEST_CASE("models saved by fpokit load in transformers with fpokit's logits for every architecture",
          "[interop][save]") {
  TempDir tmp;
  nlohmann::json cases = nlohmann::json::array();
  uint64_t seed = 1;
  for (const auto& name : test::model_fixture_names()) {
    const auto source = test::model_fixture(name);
    auto model = lm::load_model(source, {torch::kCPU, torch::kFloat32});
    perturb(*model, seed++);
    lm::save_pretrained(*model, source, tmp / name);
    fpokit_forward(tmp, tmp / name, tmp / (name + ".logits.safetensors"));
    cases.push_back({{"name", "save_pretrained of " + name},
                     {"model", (tmp / name).string()},
                     {"fpokit_logits", (tmp / (name + ".logits.safetensors")).string()},
                     {"source", source.string()}});
  }
  REQUIRE(cases.size() >= 10);
  check_with_transformers(tmp, cases);
}

TEST_CASE("LoRA adapters saved by fpokit load in PEFT with fpokit's logits on Conv1D fused QKV and Gemma-2",
          "[interop][save][lora]") {
  TempDir tmp;
  nlohmann::json cases = nlohmann::json::array();
  uint64_t seed = 100;
  // Adapters on the layer kinds PEFT treats differently: GPT-2's Conv1D (fan_in_fan_out), GPT-NeoX's
  // fused query_key_value, Gemma-2's Linear; A and B both random so that the adapter matters.
  const std::vector<std::pair<std::string, std::vector<std::string>>> adapted{
      {"gpt2", {"c_attn", "c_proj", "c_fc"}},
      {"pythia-parallel", {"query_key_value", "dense_4h_to_h"}},
      {"gemma2-swa-softcap", {"q_proj", "o_proj", "down_proj"}}};
  for (const auto& [name, targets] : adapted) {
    const auto source = test::model_fixture(name);
    auto model = lm::load_model(source, {torch::kCPU, torch::kFloat32});
    lm::LoraOptions options;
    options.r = 3;
    options.alpha = 5;
    options.targets = targets;
    auto adapters = lm::LoraAdapters::attach(*model, options);
    {
      torch::NoGradGuard no_grad;
      torch::manual_seed(seed++);
      for (auto& p : adapters.parameters()) p.copy_(torch::randn_like(p) * 0.3);
    }
    const auto adapter_dir = tmp / (name + "-adapter");
    adapters.save_peft(adapter_dir, source.string());
    fpokit_forward(tmp, source, tmp / (name + "-adapter.logits.safetensors"), adapter_dir);
    cases.push_back({{"name", "save_peft on " + name},
                     {"model", source.string()},
                     {"adapter", adapter_dir.string()},
                     {"fpokit_logits", (tmp / (name + "-adapter.logits.safetensors")).string()}});
  }
  check_with_transformers(tmp, cases);
}
