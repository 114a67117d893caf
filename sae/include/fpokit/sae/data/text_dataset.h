#pragma once
// A streaming reader of a text corpus, one document at a time, never holding the file in memory.
//   *.jsonl / *.json: one JSON object per line; the document is the string field `text_field`
//                     (blank lines are skipped; a line that is not an object with that string
//                     field is an InputError naming the file and line).
//   anything else:    plain text, one document per non-empty line.
// The position is a byte offset, so a training run can seek back to where a buffer window began
// (exact --resume) without re-reading what came before.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace fpokit::sae {

struct TextDocument {
  std::string text;
  int64_t offset = 0;  // byte offset of the document's line
  int64_t line = 0;    // 1-based line number (for messages)
};

class TextDataset {
 public:
  // Throws InputError when the file cannot be opened.
  explicit TextDataset(std::filesystem::path path, std::string text_field = "text");

  // The next non-empty document, or nullopt at the end of the file.
  std::optional<TextDocument> next();
  // Continue reading at a byte offset that next() returned (or 0); `line` restores numbering.
  void seek(int64_t offset, int64_t line);
  int64_t offset() const { return offset_; }
  int64_t line() const { return line_; }
  const std::filesystem::path& path() const { return path_; }
  bool is_jsonl() const { return jsonl_; }

 private:
  std::filesystem::path path_;
  std::string text_field_;
  bool jsonl_ = false;
  std::ifstream in_;
  int64_t offset_ = 0;  // of the next unread line
  int64_t line_ = 0;    // lines consumed so far
};

}  // namespace fpokit::sae
