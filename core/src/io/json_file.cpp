#include "fpokit/core/io/json_file.h"

#include <fstream>

#include "fpokit/core/errors.h"

namespace fpokit::core {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path.string() + ": cannot open file");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(path.string() + ": invalid JSON: " + e.what());
  }
}

}  // namespace fpokit::core
