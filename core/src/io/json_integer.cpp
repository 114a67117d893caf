#include "fpokit/core/io/json_integer.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "fpokit/core/errors.h"

namespace fpokit::core {

std::optional<int64_t> json_to_int64(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    // 2^63 is exactly representable; every double in [-2^63, 2^63) converts without overflow.
    constexpr double kTwoTo63 = 9223372036854775808.0;
    if (!std::isfinite(d) || std::trunc(d) != d || d < -kTwoTo63 || d >= kTwoTo63) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

namespace {

std::string shown(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace

int64_t json_integer(const nlohmann::json& value, const std::string& where, const std::string& key) {
  const auto parsed = json_to_int64(value);
  if (!parsed) throw ConfigError(where + ": field '" + key + "' must be an integer, got " + shown(value));
  return *parsed;
}

std::vector<int64_t> json_integer_list(const nlohmann::json& value, const std::string& where, const std::string& key) {
  if (!value.is_array())
    throw ConfigError(where + ": field '" + key + "' must be a list of integers, got " + shown(value));
  std::vector<int64_t> out;
  out.reserve(value.size());
  for (const auto& item : value) {
    const auto parsed = json_to_int64(item);
    if (!parsed) throw ConfigError(where + ": field '" + key + "' must be a list of integers, holds " + shown(item));
    out.push_back(*parsed);
  }
  return out;
}

int64_t json_state_integer(const nlohmann::json& obj, const std::string& key) {
  if (!obj.is_object() || !obj.contains(key)) throw std::invalid_argument("no field '" + key + "'");
  const auto parsed = json_to_int64(obj.at(key));
  if (!parsed) throw std::invalid_argument("field '" + key + "' must be an integer, got " + shown(obj.at(key)));
  return *parsed;
}

std::vector<int64_t> json_state_integer_list(const nlohmann::json& obj, const std::string& key) {
  if (!obj.is_object() || !obj.contains(key)) throw std::invalid_argument("no field '" + key + "'");
  try {
    return json_integer_list(obj.at(key), "", key);
  } catch (const ConfigError& e) {
    throw std::invalid_argument(std::string(e.what()).substr(2));  // without the empty where's ": "
  }
}

int64_t json_integer_field(const nlohmann::json& obj, const std::string& key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) throw ConfigError(where + ": missing field '" + key + "'");
  return json_integer(obj.at(key), where, key);
}

}  // namespace fpokit::core
