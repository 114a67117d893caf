#pragma once
// The records of several dataset files (a split's shards) read one after another, as one reader.
// A position holds the file's index in its top bits and the position inside the file below
// (kFileShift), so that a seek goes straight to the file; numbers and where() are those of the
// file being read ("data/train-00001-of-00002.parquet: row 7").
#include <vector>

#include "fpokit/core/dataset/record_reader.h"

namespace fpokit::core {

class ConcatRecordReader final : public RecordReader {
 public:
  // 2^40: byte offsets and row indices inside one file stay below a TiB.
  static constexpr int kFileShift = 40;

  // `files` must not be empty; each is opened when reading reaches it (open_record_reader).
  // `name` is what path() reports (the dataset folder).
  ConcatRecordReader(std::filesystem::path name, std::vector<std::filesystem::path> files);

  std::optional<DatasetRecord> next() override;
  void seek(int64_t position, int64_t number) override;
  int64_t position() const override;
  int64_t number() const override { return current_->number(); }
  std::string where(int64_t number) const override { return current_->where(number); }
  std::string format_name() const override { return current_->format_name(); }

  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  void open(size_t index);

  std::vector<std::filesystem::path> files_;
  size_t index_ = 0;
  std::unique_ptr<RecordReader> current_;
};

}  // namespace fpokit::core
