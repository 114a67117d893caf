#pragma once
// JSON lines (plain or gzip-compressed): one object per line, blank lines skipped. A record's
// position is the uncompressed byte offset of its line, its number the 1-based line number.
#include "fpokit/core/dataset/record_reader.h"
#include "fpokit/core/dataset/text_line_stream.h"

namespace fpokit::core {

class JsonLinesReader final : public RecordReader {
 public:
  explicit JsonLinesReader(const std::filesystem::path& path);

  std::optional<DatasetRecord> next() override;
  void seek(int64_t position, int64_t number) override;
  int64_t position() const override { return lines_.offset(); }
  int64_t number() const override { return line_ + 1; }
  std::string where(int64_t number) const override;
  std::string format_name() const override { return lines_.compressed() ? "gzip JSON lines" : "JSON lines"; }

 private:
  TextLineStream lines_;
  int64_t line_ = 0;  // lines consumed
};

}  // namespace fpokit::core
