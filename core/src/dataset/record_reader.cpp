#include "fpokit/core/dataset/record_reader.h"

#include <fstream>

#include "fpokit/core/dataset/json_array_reader.h"
#include "fpokit/core/dataset/json_lines_reader.h"
#include "fpokit/core/dataset/parquet_record_reader.h"
#include "fpokit/core/errors.h"

namespace fpokit::core {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_json_lines_name(const std::string& name) {
  for (const char* ext : {".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".json.gz"})
    if (ends_with(name, ext)) return true;
  return false;
}

// The first character that is not JSON whitespace, or 0 for an empty file.
char first_significant_char(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open dataset " + path.string() + ": check the path and its permissions");
  char c = 0;
  while (in.get(c))
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c;
  return 0;
}

}  // namespace

bool is_record_file(const std::filesystem::path& file) {
  const auto name = file.filename().string();
  return is_json_lines_name(name) || ends_with(name, ".json") || ends_with(name, ".parquet");
}

std::unique_ptr<RecordReader> open_record_reader(const std::filesystem::path& file) {
  const auto name = file.filename().string();
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw InputError("dataset " + file.string() + " is a folder; give a file in it");
  if (!std::filesystem::exists(file, ec))
    throw InputError("cannot open dataset " + file.string() + ": check the path and its permissions");
  if (ends_with(name, ".parquet")) return std::make_unique<ParquetRecordReader>(file);
  if (is_json_lines_name(name)) return std::make_unique<JsonLinesReader>(file);
  if (ends_with(name, ".json")) {
    // datasets' to_json writes JSON lines under .json; others write one array.
    if (first_significant_char(file) == '[') return std::make_unique<JsonArrayReader>(file);
    return std::make_unique<JsonLinesReader>(file);
  }
  throw InputError("dataset " + file.string() +
                   " has an unknown format; give .jsonl, .jsonl.gz, .json (an array or JSON lines) or .parquet");
}

}  // namespace fpokit::core
