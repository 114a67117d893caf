// core::read_json_file: a JSON number too large for a double (1e999) is an out_of_range error in
// nlohmann::json, not a parse_error, and must still be a ConfigError naming the file (config.json
// reaches it through lm::load_model_config; found by the fuzz_config_json harness, tests/fuzz).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_file.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("a JSON file with a number beyond double is a ConfigError naming it", "[core][json]") {
  test::TempDir tmp;
  const auto path = tmp / "config.json";
  test::write_bytes(path, R"({"hidden_size": 8, "rope_theta": 1e999})");
  try {
    (void)core::read_json_file(path);
    FAIL("the file was accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith(path.string() + ": invalid JSON") && Catch::Contains("number overflow"));
  }
  test::write_bytes(path, R"({"hidden_size": 8})");
  CHECK(core::read_json_file(path).at("hidden_size") == 8);
}
