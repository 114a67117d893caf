#include "config_options.h"

#include <array>
#include <filesystem>
#include <sstream>
#include <string_view>

namespace fpokit::cli {

namespace {

// The long names of the options that hold a file or folder, in every training command.
constexpr std::array<std::string_view, 11> kPathKeys = {"model",   "ref-model",  "data",     "eval-data",
                                                        "sae",     "acts",       "out",      "reference-cache",
                                                        "adapter", "drift-data", "drift-sae"};

bool is_path_key(std::string_view key) {
  for (const auto k : kPathKeys)
    if (k == key) return true;
  return false;
}

}  // namespace

std::string with_absolute_paths(const std::string& toml) {
  std::istringstream in(toml);
  std::string out, line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    // key="value": CLI11 writes strings quoted and without spaces around '='.
    if (eq != std::string::npos && eq + 2 < line.size() && line[eq + 1] == '"' && line.back() == '"' &&
        is_path_key(line.substr(0, eq))) {
      const std::string value = line.substr(eq + 2, line.size() - eq - 3);
      if (!value.empty() && value.find('"') == std::string::npos && value.find('\\') == std::string::npos)
        line = line.substr(0, eq) + "=\"" + std::filesystem::absolute(value).lexically_normal().string() + "\"";
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace fpokit::cli
