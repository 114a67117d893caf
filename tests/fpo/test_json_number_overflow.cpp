// A JSON number too large for a double (1e999) is an out_of_range error in nlohmann::json, not a
// parse_error: a preference row and tokenizer_config.json's chat template must still give fpokit's
// error naming the file (and line) (found by the fuzz harnesses, tests/fuzz).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/preference_dataset.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("a preference row with a number beyond double is an InputError naming the line", "[fpo][data]") {
  test::TempDir tmp;
  const auto path = tmp / "prefs.jsonl";
  test::write_bytes(path,
                    "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n"
                    "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\", \"score\": 1e999}\n");
  try {
    (void)fpo::read_preference_data(path);
    FAIL("the file was accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith(path.string() + ":2: not valid JSON") && Catch::Contains("number overflow"));
  }
}

TEST_CASE("a tokenizer_config.json with a number beyond double is a ConfigError for the chat template", "[fpo][data]") {
  test::TempDir tmp;
  test::write_bytes(tmp / "tokenizer_config.json", R"({"chat_template": "x", "model_max_length": 1e999})");
  try {
    (void)fpo::detect_chat_template(tmp.path());
    FAIL("the file was accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(),
               Catch::StartsWith((tmp / "tokenizer_config.json").string()) && Catch::Contains("number overflow"));
  }
}
