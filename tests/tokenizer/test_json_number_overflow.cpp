// A JSON number too large for a double (1e999) is an out_of_range error in nlohmann::json, not a
// parse_error: tokenizer.json and tokenizer_config.json must still turn it into the reader's
// error naming the file (found by the fuzz_tokenizer_json harness, tests/fuzz).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/lm/tokenizer/tokenizer_config.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("a tokenizer.json with a number beyond double is a TokenizerError", "[tokenizer][errors]") {
  test::TempDir tmp;
  test::write_bytes(tmp / "tokenizer.json", R"({"version": "1.0", "truncation": null, "model": {"dropout": 1e999}})");
  try {
    (void)lm::Tokenizer::from_directory(tmp.path());
    FAIL("the tokenizer was accepted");
  } catch (const TokenizerError& e) {
    CHECK_THAT(e.what(), Catch::Contains((tmp / "tokenizer.json").string()) && Catch::Contains("number overflow"));
  }
}

TEST_CASE("a tokenizer_config.json with a number beyond double is a ConfigError", "[tokenizer][errors]") {
  test::TempDir tmp;
  test::write_bytes(tmp / "tokenizer_config.json", R"({"model_max_length": 1e999})");
  try {
    (void)lm::TokenizerConfig::read(tmp.path());
    FAIL("the config was accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(),
               Catch::Contains((tmp / "tokenizer_config.json").string()) && Catch::Contains("number overflow"));
  }
}
