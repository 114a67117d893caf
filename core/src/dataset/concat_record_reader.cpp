#include "fpokit/core/dataset/concat_record_reader.h"

#include "fpokit/core/errors.h"

namespace fpokit::core {

ConcatRecordReader::ConcatRecordReader(std::filesystem::path name, std::vector<std::filesystem::path> files)
    : RecordReader(std::move(name)), files_(std::move(files)) {
  if (files_.empty()) throw InputError("dataset " + path().string() + " has no data files");
  if (files_.size() >= (size_t{1} << (62 - kFileShift)))
    throw InputError("dataset " + path().string() + " has too many files (" + std::to_string(files_.size()) + ")");
  open(0);
}

void ConcatRecordReader::open(size_t index) {
  current_ = open_record_reader(files_[index]);
  index_ = index;
}

std::optional<DatasetRecord> ConcatRecordReader::next() {
  while (true) {
    if (auto record = current_->next()) {
      if (record->position >= (int64_t{1} << kFileShift))
        throw InputError(current_->where(record->number) + ": the file is too large to be one shard of a dataset " +
                         "folder (positions past 1 TiB); split it");
      record->position |= static_cast<int64_t>(index_) << kFileShift;
      return record;
    }
    if (index_ + 1 == files_.size()) return std::nullopt;
    open(index_ + 1);
  }
}

int64_t ConcatRecordReader::position() const {
  return (static_cast<int64_t>(index_) << kFileShift) | current_->position();
}

void ConcatRecordReader::seek(int64_t position, int64_t number) {
  const auto index = static_cast<size_t>(position >> kFileShift);
  if (position < 0 || index >= files_.size())
    throw InputError("cannot seek to position " + std::to_string(position) + " of dataset " + path().string() +
                     ": its files changed since the checkpoint was written");
  if (index != index_) open(index);
  current_->seek(position & ((int64_t{1} << kFileShift) - 1), number);
}

}  // namespace fpokit::core
