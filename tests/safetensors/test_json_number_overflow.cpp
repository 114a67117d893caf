// A JSON number too large for a double (1e999) is an out_of_range error in nlohmann::json, not a
// parse_error: the safetensors header and the shard index must still turn it into a
// CheckpointError naming the file (found by the fuzz_safetensors harness, tests/fuzz).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>

#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/checkpoint.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("a safetensors header with a number beyond double is a CheckpointError", "[safetensors][errors]") {
  test::TempDir tmp;
  const std::string header = R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})";
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header + std::string(4, '\0');
  const auto path = tmp / "big.safetensors";
  test::write_bytes(path, bytes);
  try {
    lm::SafetensorsFile file(path);
    FAIL("the header was accepted");
  } catch (const CheckpointError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith(path.string() + ": ") && Catch::Contains("not valid JSON") &&
                             Catch::Contains("number overflow"));
  }
}

TEST_CASE("a shard index with a number beyond double is a CheckpointError", "[safetensors][errors]") {
  test::TempDir tmp;
  test::write_bytes(tmp / "model.safetensors.index.json",
                    R"({"metadata": {"total_size": 1e999}, "weight_map": {"a": "model-00001.safetensors"}})");
  try {
    (void)lm::Checkpoint::open(tmp.path());
    FAIL("the index was accepted");
  } catch (const CheckpointError& e) {
    CHECK_THAT(e.what(), Catch::Contains("model.safetensors.index.json") && Catch::Contains("number overflow"));
  }
}
