#include "fpokit/sae/data/text_dataset.h"

#include "fpokit/core/dataset/dataset_split.h"
#include "fpokit/core/errors.h"

namespace fpokit::sae {

TextDataset::TextDataset(std::filesystem::path path, std::string text_field, std::string split)
    : path_(std::move(path)), text_field_(std::move(text_field)) {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec))
    throw InputError("cannot open dataset " + path_.string() + ": check the path (--data)");
  if (core::is_record_file(path_) || std::filesystem::is_directory(path_, ec) || !split.empty())
    records_ = core::open_dataset(path_, split);
  else lines_ = std::make_unique<core::TextLineStream>(path_);
}

int64_t TextDataset::offset() const { return records_ ? records_->position() : lines_->offset(); }

int64_t TextDataset::line() const { return records_ ? records_->number() - 1 : line_; }

void TextDataset::seek(int64_t offset, int64_t line) {
  if (records_) {
    records_->seek(offset, line);
  } else {
    lines_->seek(offset);
    line_ = line;
  }
}

std::optional<TextDocument> TextDataset::next() {
  if (records_) {
    while (auto record = records_->next()) {
      const auto field = record->value.find(text_field_);
      if (field == record->value.end() || !field->is_string())
        throw InputError(records_->where(record->number) + ": no string field \"" + text_field_ +
                         "\"; choose the field with --text-field");
      auto text = field->get<std::string>();
      if (text.empty()) continue;
      return TextDocument{std::move(text), record->position, record->number};
    }
    return std::nullopt;
  }
  std::string raw;
  while (true) {
    const int64_t start = lines_->offset();
    if (!lines_->next_line(raw)) return std::nullopt;
    ++line_;
    if (raw.find_first_not_of(" \t") == std::string::npos) continue;
    return TextDocument{std::move(raw), start, line_};
  }
}

}  // namespace fpokit::sae
