#pragma once
// Reading a JSON file with an error that names it (config.json, tokenizer_config.json, run
// metadata, input-id lists: every module reads some).
#include <filesystem>

#include <nlohmann/json.hpp>

namespace fpokit::core {

// Reads and parses `path`; a missing file or a parse error becomes ConfigError naming the file
// (and, for a parse error, the byte position).
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace fpokit::core
