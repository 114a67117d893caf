// Bad input through the real binary: each case gives exactly one line on stderr naming the file
// and the problem, exit code 2, and no crash.
// LibTorch before Catch2: c10's logging header defines its own CHECK macro.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

using namespace fpokit;
using test::fixture;
using test::run_command;
using test::TempDir;
using test::fpokit_cmd;
using test::quoted;
using test::read_bytes;
using test::write_bytes;
using test::repo_file;

namespace {

const std::string kModel = "models/llama-gqa";

// A writable copy of a fixture model directory (config.json + model.safetensors only).
std::filesystem::path copy_model(const TempDir& tmp) {
  const auto dir = tmp / "model";
  std::filesystem::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors"}) {
    std::filesystem::copy_file(fixture(kModel) / f, dir / f);
  }
  return dir;
}

std::filesystem::path write_ids(const TempDir& tmp, const std::string& json) {
  const auto path = tmp / "ids.json";
  std::ofstream(path) << json;
  return path;
}

// Splits a safetensors file into its JSON header and data section.
std::pair<nlohmann::json, std::string> split_safetensors(const std::string& bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return {nlohmann::json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

std::string join_safetensors(const nlohmann::json& header, const std::string& data) {
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  uint64_t n = h.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + h + data;
}

// Rewrites model.safetensors with one tensor changed (or dropped, or an extra one added).
void rewrite_tensors(const std::filesystem::path& dir,
                     const std::function<void(std::vector<std::pair<std::string, torch::Tensor>>&)>& edit) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  {
    const lm::SafetensorsFile file(dir / "model.safetensors");
    for (const auto& info : file.tensors()) tensors.emplace_back(info.name, file.load(info.name));
  }
  edit(tensors);
  lm::write_safetensors(dir / "model.safetensors", tensors);
}

// The command must fail with exit code 2 and one stderr line containing every `needle`.
void expect_input_error(const std::string& command, const std::vector<std::string>& needles) {
  const auto r = run_command(command);
  INFO("command: " << command << "\nstderr: " << r.err);
  CHECK(r.exit_code == 2);
  REQUIRE(!r.err.empty());
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.back() == '\n');
  for (const auto& needle : needles) CHECK_THAT(r.err, Catch::Contains(needle));
}

std::string forward_cmd(const std::filesystem::path& model, const TempDir& tmp,
                        const std::string& ids = "[[1, 2, 3]]") {
  return fpokit_cmd("forward --model " + quoted(model) + " --input-ids " + quoted(write_ids(tmp, ids)) + " --out " +
                    quoted(tmp / "out.safetensors"));
}

}  // namespace

TEST_CASE("cli: --help and --version and usage errors", "[cli]") {
  CHECK(run_command(fpokit_cmd("--help")).exit_code == 0);
  for (const char* cmd : {"generate", "tokenize", "forward"}) {
    const auto r = run_command(fpokit_cmd(std::string(cmd) + " --help"));
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("--model"));
  }
  const auto v = run_command(fpokit_cmd("--version"));
  CHECK(v.exit_code == 0);
  CHECK_THAT(v.out, Catch::Contains("fpokit "));
  CHECK(run_command(fpokit_cmd("")).exit_code == 2);
  CHECK(run_command(fpokit_cmd("forward --no-such-flag")).exit_code == 2);
  CHECK(run_command(fpokit_cmd("forward --model x")).exit_code == 2);  // missing required options
}

TEST_CASE("cli: a directory without config.json", "[cli][bad-input]") {
  TempDir tmp;
  std::filesystem::create_directories(tmp / "empty");
  expect_input_error(forward_cmd(tmp / "empty", tmp), {"no config.json"});
}

TEST_CASE("cli: an unknown architecture", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  auto cfg = nlohmann::json::parse(read_bytes(dir / "config.json"));
  cfg["architectures"] = {"MambaForCausalLM"};
  cfg["model_type"] = "mamba";
  write_bytes(dir / "config.json", cfg.dump());
  expect_input_error(forward_cmd(dir, tmp), {"config.json", "MambaForCausalLM", "supported"});
}

TEST_CASE("cli: a config.json that is not JSON", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  write_bytes(dir / "config.json", "{\"hidden_size\": 64,");
  expect_input_error(forward_cmd(dir, tmp), {"config.json", "invalid JSON"});
}

TEST_CASE("cli: a truncated safetensors file", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  const auto bytes = read_bytes(dir / "model.safetensors");
  write_bytes(dir / "model.safetensors", bytes.substr(0, bytes.size() - 100));
  expect_input_error(forward_cmd(dir, tmp), {"model.safetensors"});
}

TEST_CASE("cli: a header length beyond the file", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  auto bytes = read_bytes(dir / "model.safetensors");
  const uint64_t huge = bytes.size() * 2;
  std::memcpy(bytes.data(), &huge, 8);
  write_bytes(dir / "model.safetensors", bytes);
  expect_input_error(forward_cmd(dir, tmp), {"model.safetensors", "header"});
}

TEST_CASE("cli: out-of-range tensor offsets", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  auto [header, data] = split_safetensors(read_bytes(dir / "model.safetensors"));
  auto& entry = header["model.norm.weight"];
  const uint64_t end = data.size() + 256;
  entry["data_offsets"] = {end - 256, end};
  write_bytes(dir / "model.safetensors", join_safetensors(header, data));
  expect_input_error(forward_cmd(dir, tmp), {"model.safetensors", "model.norm.weight"});
}

TEST_CASE("cli: overlapping tensor offsets", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  auto [header, data] = split_safetensors(read_bytes(dir / "model.safetensors"));
  header["model.layers.0.post_attention_layernorm.weight"]["data_offsets"] =
      header["model.layers.0.input_layernorm.weight"]["data_offsets"];
  write_bytes(dir / "model.safetensors", join_safetensors(header, data));
  expect_input_error(forward_cmd(dir, tmp), {"model.safetensors"});
}

TEST_CASE("cli: a tensor of the wrong dtype", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  rewrite_tensors(dir, [](auto& tensors) {
    for (auto& [name, t] : tensors) {
      if (name == "model.norm.weight") t = t.to(torch::kInt32);
    }
  });
  expect_input_error(forward_cmd(dir, tmp), {"model.norm.weight", "dtype"});
}

TEST_CASE("cli: a mis-shaped and a missing and an unexpected tensor reported in one line", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = copy_model(tmp);
  rewrite_tensors(dir, [](auto& tensors) {
    std::vector<std::pair<std::string, torch::Tensor>> kept;
    for (auto& [name, t] : tensors) {
      if (name == "model.layers.1.mlp.up_proj.weight") continue;                     // missing
      if (name == "model.layers.0.self_attn.k_proj.weight") t = t.t().contiguous();  // [32, 64] -> [64, 32]
      kept.emplace_back(name, t);
    }
    kept.emplace_back("model.layers.7.extra.weight", torch::zeros({3}));
    tensors = kept;
  });
  expect_input_error(forward_cmd(dir, tmp),
                     {"model.layers.1.mlp.up_proj.weight", "model.layers.0.self_attn.k_proj.weight", "[64, 32]",
                      "model.layers.7.extra.weight", "missing", "unexpected"});
}

TEST_CASE("cli: config.json sizes that cannot be right are refused before anything is allocated", "[cli][bad-input]") {
  // Sizes that would need terabytes were the model built as configured (an allocator abort before
  // this check): the model is built on the meta device first and compared with the checkpoint.
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, int64_t>>{{"hidden_size", 1 << 22},
                                                    {"num_hidden_layers", 5000},
                                                    {"vocab_size", int64_t{1} << 36},
                                                    {"intermediate_size", int64_t{1} << 34}}) {
    DYNAMIC_SECTION(field) {
      TempDir tmp;
      const auto dir = copy_model(tmp);
      auto cfg = nlohmann::json::parse(read_bytes(dir / "config.json"));
      cfg[field] = value;
      if (field == "hidden_size") cfg["head_dim"] = (1 << 22) / cfg["num_attention_heads"].get<int64_t>();
      write_bytes(dir / "config.json", cfg.dump());
      expect_input_error(forward_cmd(dir, tmp), {"checkpoint does not match", "as configured in config.json"});
    }
  }
}

TEST_CASE("cli: a corrupt tokenizer.json", "[cli][bad-input]") {
  TempDir tmp;
  const auto dir = tmp / "tok";
  std::filesystem::create_directories(dir);
  write_bytes(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  expect_input_error(fpokit_cmd("tokenize --model " + quoted(dir) + " --text hello"), {"tokenizer.json"});
}

TEST_CASE("cli: empty input", "[cli][bad-input]") {
  TempDir tmp;
  expect_input_error(forward_cmd(fixture(kModel), tmp, "[]"), {"ids.json", "empty"});
  expect_input_error(forward_cmd(fixture(kModel), tmp, "[[1, 2], []]"), {"ids.json", "sequence 1 is empty"});
  expect_input_error(forward_cmd(fixture(kModel), tmp, "[[1, 99999]]"), {"ids.json", "99999"});
  CHECK_FALSE(std::filesystem::exists(tmp / "out.safetensors"));
}

TEST_CASE("cli: an unknown hook name", "[cli][bad-input]") {
  TempDir tmp;
  const auto cmd = forward_cmd(fixture(kModel), tmp);
  expect_input_error(cmd + " --hook blocks.0.hook_resid_post,blocks.9.hook_resid_post",
                     {"blocks.9.hook_resid_post", "out of range"});
  expect_input_error(cmd + " --hook blocks.0.attn", {"blocks.0.attn"});
}

TEST_CASE("cli: a context longer than the model's max_position_embeddings", "[cli][bad-input]") {
  TempDir tmp;
  const auto model = quoted(repo_file("models/tiny-llama"));
  const auto corpus = quoted(repo_file("models/tiny-corpus.jsonl"));
  const auto limit = nlohmann::json::parse(read_bytes(repo_file("models/tiny-llama/config.json")))
                         .at("max_position_embeddings")
                         .get<int64_t>();
  const std::string too_long = std::to_string(limit + 1);
  expect_input_error(fpokit_cmd("acts cache --model " + model + " --data " + corpus +
                                " --hook blocks.0.hook_resid_post --tokens 100 --context-size " + too_long + " --out " +
                                quoted(tmp / "acts.h5")),
                     {"--context-size " + too_long, "max_position_embeddings (" + std::to_string(limit) + ", "});
  CHECK_FALSE(std::filesystem::exists(tmp / "acts.h5"));
}
