#pragma once
// A streaming reader of a text corpus, one document at a time, never holding the file in memory
// (JSON arrays excepted: core/dataset/json_array_reader.h).
//   dataset records (core::open_dataset): *.jsonl, *.jsonl.gz, *.json (an array or JSON lines),
//                     *.parquet, or a dataset folder's split of such files; the document is the string field
//                     `text_field` (a record without that string field is an InputError naming the file and line or
//                     row; empty texts are skipped);
//   anything else:    plain text (gzip-compressed when named *.gz), one document per non-empty
//                     line.
// The position is a byte offset (a record's index for JSON arrays and Parquet), so a training run
// can seek back to where a buffer window began (exact --resume) without re-reading what came
// before.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "fpokit/core/dataset/record_reader.h"
#include "fpokit/core/dataset/text_line_stream.h"

namespace fpokit::sae {

struct TextDocument {
  std::string text;
  int64_t offset = 0;  // position of the document's line or record
  int64_t line = 0;    // 1-based line or record number (for messages)
};

class TextDataset {
 public:
  // `path` is a file or a dataset folder, whose `split` is read (core/dataset/dataset_split.h).
  // Throws InputError when the file cannot be opened or its format is not readable.
  explicit TextDataset(std::filesystem::path path, std::string text_field = "text", std::string split = "");

  // The next non-empty document, or nullopt at the end of the file.
  std::optional<TextDocument> next();
  // Continue reading at a position that next() returned (or 0); `line` restores numbering (the
  // lines or records before that position).
  void seek(int64_t offset, int64_t line);
  int64_t offset() const;
  int64_t line() const;
  const std::filesystem::path& path() const { return path_; }
  // Records with a text field (JSON, Parquet), not plain lines.
  bool has_records() const { return records_ != nullptr; }

 private:
  std::filesystem::path path_;
  std::string text_field_;
  std::unique_ptr<core::RecordReader> records_;  // dataset records, or
  std::unique_ptr<core::TextLineStream> lines_;  // plain text
  int64_t line_ = 0;                             // plain lines consumed so far
};

}  // namespace fpokit::sae
