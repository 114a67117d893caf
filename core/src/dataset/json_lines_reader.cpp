#include "fpokit/core/dataset/json_lines_reader.h"

#include "fpokit/core/errors.h"

namespace fpokit::core {

JsonLinesReader::JsonLinesReader(const std::filesystem::path& path) : RecordReader(path), lines_(path) {}

std::string JsonLinesReader::where(int64_t number) const { return path().string() + ":" + std::to_string(number); }

std::optional<DatasetRecord> JsonLinesReader::next() {
  std::string raw;
  while (true) {
    const int64_t start = lines_.offset();
    if (!lines_.next_line(raw)) return std::nullopt;
    ++line_;
    if (raw.find_first_not_of(" \t") == std::string::npos) continue;
    DatasetRecord r{{}, start, line_};
    try {
      r.value = nlohmann::json::parse(raw);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(where(line_) + ": not valid JSON (" + std::string(e.what()) +
                       "); JSON lines need one object per line");
    }
    if (!r.value.is_object())
      throw InputError(where(line_) + ": expected a JSON object per line, got " + r.value.type_name());
    return r;
  }
}

void JsonLinesReader::seek(int64_t position, int64_t number) {
  lines_.seek(position);
  line_ = number;
}

}  // namespace fpokit::core
