#include "fpokit/core/dataset/json_array_reader.h"

#include <fstream>

#include "fpokit/core/errors.h"

namespace fpokit::core {

JsonArrayReader::JsonArrayReader(const std::filesystem::path& path) : RecordReader(path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open dataset " + path.string() + ": check the path and its permissions");
  try {
    records_ = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string() + ": not valid JSON (" + std::string(e.what()) +
                     "); a .json dataset is one array of objects, or one object per line");
  }
  if (!records_.is_array())
    throw InputError(path.string() + ": the top level is a JSON " + std::string(records_.type_name()) +
                     ", not an array of records; give an array of objects, or one object per line");
}

std::string JsonArrayReader::where(int64_t number) const {
  return path().string() + ": record " + std::to_string(number);
}

std::optional<DatasetRecord> JsonArrayReader::next() {
  if (next_ >= static_cast<int64_t>(records_.size())) return std::nullopt;
  const int64_t index = next_++;
  auto& value = records_[static_cast<size_t>(index)];
  if (!value.is_object())
    throw InputError(where(index + 1) + ": expected a JSON object, got " + std::string(value.type_name()));
  // Each record is read once per pass: hand over a copy (a seek may read it again).
  return DatasetRecord{value, index, index + 1};
}

void JsonArrayReader::seek(int64_t position, int64_t number) {
  if (position < 0 || position > static_cast<int64_t>(records_.size()) || number != position)
    throw InputError("cannot seek to record " + std::to_string(position + 1) + " of dataset " + path().string() +
                     ": the file changed since the checkpoint was written");
  next_ = position;
}

}  // namespace fpokit::core
