// Checkpoint: single-file and sharded (huggingface_hub-written) model directories, and the errors
// for missing or inconsistent ones.
#include <algorithm>

#include "fpokit/lm/checkpoint/checkpoint.h"
#include "fpokit/core/errors.h"
#include "safetensors_fixtures.h"

// After every LibTorch header: c10/util/Logging.h defines its own CHECK (a fatal abort), which
// would silently replace Catch's if it came later.
#include <catch2/catch.hpp>

using namespace fpokit;
using Catch::Contains;
using fpokit::test::elements_of;
using fpokit::test::expected_elements;
using fpokit::test::st_fixture;
using fpokit::test::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kShard1 = "model-00001-of-00002.safetensors";
const char* kShard2 = "model-00002-of-00002.safetensors";
const char* kIndex = "model.safetensors.index.json";

// A writable copy of the sharded fixture.
void copy_sharded(const fs::path& dir) {
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(st_fixture("sharded"))) fs::copy_file(e.path(), dir / e.path().filename());
}

std::string open_error(const fs::path& dir) {
  try {
    (void)lm::Checkpoint::open(dir);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sharded checkpoint: names, infos, shard files and values", "[checkpoint]") {
  const auto expected = test::read_json(st_fixture("sharded.expected.json"));
  const auto checkpoint = lm::Checkpoint::open(st_fixture("sharded"));
  CHECK(checkpoint.directory() == st_fixture("sharded"));

  std::vector<std::string> names;
  for (const auto& [name, shard] : expected["weight_map"].items()) names.push_back(name);
  std::sort(names.begin(), names.end());
  CHECK(checkpoint.names() == names);

  for (const auto& name : names) {
    INFO("tensor " << name);
    const auto& e = expected["tensors"][name];
    CHECK(checkpoint.contains(name));
    CHECK(checkpoint.file_of(name).path().filename() == expected["weight_map"][name].get<std::string>());
    const auto& info = checkpoint.info(name);
    CHECK(lm::dtype_name(info.dtype) == e["dtype"].get<std::string>());
    CHECK(info.shape == e["shape"].get<std::vector<int64_t>>());
    CHECK(elements_of(checkpoint.view(name)) == expected_elements(e));
  }
  CHECK_FALSE(checkpoint.contains("model.layers.1.mlp.up_proj.weight"));
  CHECK_THROWS_WITH(checkpoint.info("nope"), Contains(st_fixture("sharded").string()) && Contains("no tensor 'nope'"));
  CHECK_THROWS_AS(checkpoint.view("nope"), CheckpointError);
}

TEST_CASE("sharded checkpoint: each shard is opened once and shared", "[checkpoint]") {
  auto checkpoint = lm::Checkpoint::open(st_fixture("sharded"));
  const auto& a = checkpoint.file_of("model.embed_tokens.weight");
  const auto& b = checkpoint.file_of("model.layers.0.self_attn.q_proj.weight");
  const auto& c = checkpoint.file_of("lm_head.weight");
  CHECK(&a == &b);
  CHECK(&a != &c);
  CHECK(&checkpoint.file_of("lm_head.weight") == &c);
  // A moved checkpoint keeps its opened shards.
  const auto moved = std::move(checkpoint);
  CHECK(&moved.file_of("lm_head.weight") == &c);
}

TEST_CASE("single-file checkpoint", "[checkpoint]") {
  TempDir tmp;
  fs::copy_file(st_fixture("dtypes.safetensors"), tmp / "model.safetensors");
  const auto expected = test::read_json(st_fixture("dtypes.expected.json"));
  const auto checkpoint = lm::Checkpoint::open(tmp.path());
  auto names = expected["order"].get<std::vector<std::string>>();
  std::sort(names.begin(), names.end());
  CHECK(checkpoint.names() == names);
  for (const auto& name : names) {
    INFO("tensor " << name);
    CHECK(&checkpoint.file_of(name) == &checkpoint.file_of(names.front()));
    CHECK(elements_of(checkpoint.view(name)) == expected_elements(expected["tensors"][name]));
  }
}

TEST_CASE("model.safetensors wins over an index, as in transformers", "[checkpoint]") {
  TempDir tmp;
  copy_sharded(tmp.path());
  lm::write_safetensors(tmp / "model.safetensors", {{"only.single", torch::ones({2})}});
  const auto checkpoint = lm::Checkpoint::open(tmp.path());
  CHECK(checkpoint.names() == std::vector<std::string>{"only.single"});
}

TEST_CASE("checkpoint error: directory with neither file", "[checkpoint][errors]") {
  TempDir tmp;
  test::write_bytes(tmp / "pytorch_model.bin", "x");
  const auto what = open_error(tmp.path());
  CHECK_THAT(what, Catch::StartsWith(tmp.path().string() + ": no model.safetensors or model.safetensors.index.json") &&
                       Contains("only safetensors checkpoints are supported") && Contains("pytorch_model.bin"));
  CHECK_THAT(open_error(tmp / "missing"), Contains("not a directory"));
}

TEST_CASE("checkpoint error: missing shard", "[checkpoint][errors]") {
  TempDir tmp;
  copy_sharded(tmp.path());
  fs::remove(tmp / kShard2);
  CHECK_THAT(open_error(tmp.path()), Catch::StartsWith((tmp / kIndex).string() + ": ") &&
                                         Contains("shard 'model-00002-of-00002.safetensors'") && Contains("does not exist"));
}

TEST_CASE("checkpoint error: index without weight_map", "[checkpoint][errors]") {
  TempDir tmp;
  copy_sharded(tmp.path());
  test::write_bytes(tmp / kIndex, R"({"metadata": {"total_size": 304}})");
  CHECK_THAT(open_error(tmp.path()), Catch::StartsWith((tmp / kIndex).string() + ": no \"weight_map\" object"));
  test::write_bytes(tmp / kIndex, R"({"weight_map": ["model.norm.weight"]})");
  CHECK_THAT(open_error(tmp.path()), Contains("no \"weight_map\" object"));
  test::write_bytes(tmp / kIndex, R"({"weight_map": {}})");
  CHECK_THAT(open_error(tmp.path()), Contains("\"weight_map\" is empty"));
  test::write_bytes(tmp / kIndex, R"({"weight_map": {"model.norm.weight": 2}})");
  CHECK_THAT(open_error(tmp.path()), Contains("weight_map entry for 'model.norm.weight' must be a shard file name"));
}

TEST_CASE("checkpoint error: index is not valid JSON", "[checkpoint][errors]") {
  TempDir tmp;
  copy_sharded(tmp.path());
  test::write_bytes(tmp / kIndex, "{\"weight_map\": {\n");
  const auto what = open_error(tmp.path());
  CHECK_THAT(what, Catch::StartsWith((tmp / kIndex).string() + ": not valid JSON"));
  CHECK(what.find('\n') == std::string::npos);
}

TEST_CASE("checkpoint error: shard outside the model directory", "[checkpoint][errors]") {
  TempDir tmp;
  copy_sharded(tmp / "model");
  test::write_bytes(tmp / "model" / kIndex, R"({"weight_map": {"w": "../model/model-00001-of-00002.safetensors"}})");
  CHECK_THAT(open_error(tmp / "model"), Contains("is not a file name inside the model directory"));
}

TEST_CASE("checkpoint error: tensor absent from its shard", "[checkpoint][errors]") {
  TempDir tmp;
  copy_sharded(tmp.path());
  auto index = test::read_json(tmp / kIndex);
  index["weight_map"]["model.norm.weight"] = kShard1;  // it lives in shard 2
  test::write_bytes(tmp / kIndex, index.dump());
  // Shards open lazily: the mismatch is found when shard 1 is first used, and named then.
  const auto checkpoint = lm::Checkpoint::open(tmp.path());
  CHECK_THROWS_MATCHES(checkpoint.view("model.embed_tokens.weight"), CheckpointError,
                       Catch::Matchers::Message((tmp / kIndex).string() +
                                                ": tensor 'model.norm.weight' is mapped to shard "
                                                "'model-00001-of-00002.safetensors', which does not contain it"));
  CHECK_THROWS_AS(checkpoint.info("model.norm.weight"), CheckpointError);  // reported again, not cached as valid
  CHECK(checkpoint.view("lm_head.weight").numel() == 24);                 // shard 2 is fine
}

TEST_CASE("checkpoint error: a corrupt shard is named", "[checkpoint][errors]") {
  TempDir tmp;
  copy_sharded(tmp.path());
  const auto bytes = test::read_bytes(tmp / kShard2);
  test::write_bytes(tmp / kShard2, bytes.substr(0, bytes.size() - 4));
  const auto checkpoint = lm::Checkpoint::open(tmp.path());
  CHECK_THROWS_WITH(checkpoint.view("lm_head.weight"),
                    Catch::StartsWith((tmp / kShard2).string() + ": ") && Contains("exceed the data section"));
}

TEST_CASE("checkpoint error: a corrupt model.safetensors fails open()", "[checkpoint][errors]") {
  TempDir tmp;
  test::write_bytes(tmp / "model.safetensors", "short");
  CHECK_THAT(open_error(tmp.path()), Catch::StartsWith((tmp / "model.safetensors").string() + ": file is 5 bytes"));
}
