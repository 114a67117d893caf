#pragma once
// A .json file holding one JSON array of objects ([{...}, {...}]). The array is parsed whole (a
// JSON array cannot be split without parsing it; such files are small in practice: larger
// datasets are published as JSON lines or Parquet). Position = 0-based index, number = index + 1.
#include <vector>

#include "fpokit/core/dataset/record_reader.h"

namespace fpokit::core {

class JsonArrayReader final : public RecordReader {
 public:
  // Throws InputError for invalid JSON or a top level that is not an array.
  explicit JsonArrayReader(const std::filesystem::path& path);

  std::optional<DatasetRecord> next() override;
  void seek(int64_t position, int64_t number) override;
  int64_t position() const override { return next_; }
  int64_t number() const override { return next_ + 1; }
  std::string where(int64_t number) const override;
  std::string format_name() const override { return "JSON array"; }

 private:
  nlohmann::json records_;
  int64_t next_ = 0;
};

}  // namespace fpokit::core
