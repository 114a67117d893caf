#include "fpokit/lm/model_config.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/lm/errors.h"

namespace fpokit::lm {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path.string() + ": cannot open file");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(path.string() + ": invalid JSON: " + e.what());
  }
}

}  // namespace fpokit::lm
