#pragma once
// Records of a dataset file, one JSON object at a time, whatever the file's format, so that every
// reader of training data (preference pairs, text corpora) takes the files datasets and the Hub
// publish as they are:
//   *.jsonl, *.ndjson            JSON lines: one object per line, blank lines skipped;
//   *.jsonl.gz, *.ndjson.gz,
//   *.json.gz                    the same, gzip-compressed (read through zlib, streaming);
//   *.json                       a JSON array of objects, or JSON lines (what datasets' to_json
//                                writes): told apart by the first non-blank character;
//   *.parquet                    Parquet rows (Apache Arrow's C++ library; parquet_record_reader.h),
//                                when fpokit was built with it.
// A record's position is where a reader can seek back to (exact --resume of a harvesting run): the
// byte offset of its line in the uncompressed text for JSON lines, its index for JSON arrays and
// Parquet rows.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace fpokit::core {

struct DatasetRecord {
  nlohmann::json value;  // an object (each reader checks this; anything else is an InputError)
  int64_t position = 0;  // where this record starts (see above)
  int64_t number = 0;    // 1-based line (JSON lines) or record/row number, for messages
};

class RecordReader {
 public:
  explicit RecordReader(std::filesystem::path path) : path_(std::move(path)) {}
  virtual ~RecordReader() = default;
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // The next record, or nullopt at the end. Throws InputError naming where() for a record that
  // is not valid JSON or not an object.
  virtual std::optional<DatasetRecord> next() = 0;
  // Continue at a position that next() returned (or 0); `number` is that record's number - 1
  // (the count of lines or records before it), to restore numbering.
  virtual void seek(int64_t position, int64_t number) = 0;
  // The position and number of the next unread record.
  virtual int64_t position() const = 0;
  virtual int64_t number() const = 0;
  // Where record `number` is, for messages: "FILE:LINE" for JSON lines, "FILE: record N" for JSON
  // arrays, "FILE: row N" for Parquet.
  virtual std::string where(int64_t number) const = 0;
  // "JSON lines", "gzip JSON lines", "JSON array", "Parquet".
  virtual std::string format_name() const = 0;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// True for the extensions above (Parquet included even when this build lacks it, so that the
// caller reports that instead of reading the file as plain text).
bool is_record_file(const std::filesystem::path& file);

// The reader for `file` by its extension. Throws InputError when the file cannot be opened or is
// not one of the formats above (naming the formats), and for Parquet in a build without it
// (saying how to build with it).
std::unique_ptr<RecordReader> open_record_reader(const std::filesystem::path& file);

}  // namespace fpokit::core
