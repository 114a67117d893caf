#pragma once
// Reading an integer out of parsed JSON without undefined behaviour. nlohmann's get<int64_t>()
// static_casts a floating-point value, and a cast of one outside int64's range (4.3e93, found by
// fuzz_sae_cfg) is undefined; a fractional one is silently truncated. Every integer a file
// supplies (a width, a step counter, a token id) goes through these instead.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fpokit::core {

// The value as an int64 when it is a JSON integer in range, or a floating-point number with no
// fractional part in range (Python writes 64.0 for a float k); nullopt for anything else.
std::optional<int64_t> json_to_int64(const nlohmann::json& value);

// json_to_int64, or ConfigError "<where>: field '<key>' must be an integer, got <value>".
int64_t json_integer(const nlohmann::json& value, const std::string& where, const std::string& key);

// obj[key] through json_integer; a missing key (or a non-object) is ConfigError naming it.
int64_t json_integer_field(const nlohmann::json& obj, const std::string& key, const std::string& where);

// A list of json_integer values (a JSON array), or ConfigError naming the field.
std::vector<int64_t> json_integer_list(const nlohmann::json& value, const std::string& where, const std::string& key);

// For state files fpokit wrote itself (trainer_state.json, resume positions): obj[key] as an
// integer, or std::invalid_argument "field '<key>' ..." that LoadedCheckpoint::read_part reports
// as the damaged file it names.
int64_t json_state_integer(const nlohmann::json& obj, const std::string& key);
std::vector<int64_t> json_state_integer_list(const nlohmann::json& obj, const std::string& key);

}  // namespace fpokit::core
