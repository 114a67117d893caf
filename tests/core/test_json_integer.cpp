// core::json_to_int64 and friends: nlohmann's get<int64_t>() static_casts a float, which is
// undefined behaviour out of int64's range (4.33e93 in an SAE's cfg.json, found by fuzz_sae_cfg)
// and a silent truncation for 2.5. These read every integer a file supplies.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_integer.h"

using namespace fpokit;
using Catch::Contains;
using nlohmann::json;

TEST_CASE("json_to_int64 takes integers and whole floats in range, nothing else", "[core][json]") {
  CHECK(core::json_to_int64(json(42)) == 42);
  CHECK(core::json_to_int64(json(-7)) == -7);
  CHECK(core::json_to_int64(json(64.0)) == 64);
  CHECK(core::json_to_int64(json(-9223372036854775807LL - 1)) == std::numeric_limits<int64_t>::min());
  CHECK(core::json_to_int64(json(-9223372036854775808.0)) == std::numeric_limits<int64_t>::min());
  CHECK_FALSE(core::json_to_int64(json(9223372036854775808.0)));  // 2^63: one past the largest
  CHECK_FALSE(core::json_to_int64(json(uint64_t{9223372036854775808ULL})));
  CHECK_FALSE(core::json_to_int64(json(4.33333e93)));
  CHECK_FALSE(core::json_to_int64(json(-1e300)));
  CHECK_FALSE(core::json_to_int64(json(2.5)));
  CHECK_FALSE(core::json_to_int64(json(std::numeric_limits<double>::quiet_NaN())));
  CHECK_FALSE(core::json_to_int64(json("8")));
  CHECK_FALSE(core::json_to_int64(json(true)));
  CHECK_FALSE(core::json_to_int64(json(nullptr)));
}

TEST_CASE("json_integer errors name the file and the field", "[core][json]") {
  const auto j = json::parse(R"({"d_in": 4.33333e93, "k": 3, "counts": [1, 2.0, 3], "bad": [1, "x"]})");
  CHECK(core::json_integer_field(j, "k", "cfg.json") == 3);
  CHECK_THROWS_AS(core::json_integer_field(j, "d_in", "cfg.json"), ConfigError);
  CHECK_THROWS_WITH(core::json_integer_field(j, "d_in", "cfg.json"),
                    Contains("cfg.json: field 'd_in' must be an integer, got 4.3"));
  CHECK_THROWS_WITH(core::json_integer_field(j, "d_sae", "cfg.json"), Contains("cfg.json: missing field 'd_sae'"));
  CHECK(core::json_integer_list(j["counts"], "s.json", "counts") == std::vector<int64_t>{1, 2, 3});
  CHECK_THROWS_WITH(core::json_integer_list(j["bad"], "s.json", "bad"),
                    Contains("s.json: field 'bad'") && Contains("\"x\""));
  CHECK_THROWS_WITH(core::json_integer_list(j["k"], "s.json", "k"), Contains("must be a list of integers"));
  // State files fpokit wrote itself: a plain error the checkpoint reader reports as damage.
  CHECK(core::json_state_integer(j, "k") == 3);
  CHECK_THROWS_AS(core::json_state_integer(j, "d_in"), std::invalid_argument);
  CHECK_THROWS_WITH(core::json_state_integer(j, "step"), "no field 'step'");
  CHECK_THROWS_WITH(core::json_state_integer_list(j, "bad"), Contains("field 'bad'") && !Contains(": field"));
}
