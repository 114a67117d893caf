#include "fpokit/sae/data/text_dataset.h"

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"

namespace fpokit::sae {

TextDataset::TextDataset(std::filesystem::path path, std::string text_field)
    : path_(std::move(path)), text_field_(std::move(text_field)) {
  const auto ext = path_.extension().string();
  jsonl_ = ext == ".jsonl" || ext == ".json" || ext == ".ndjson";
  in_.open(path_, std::ios::binary);
  if (!in_) throw InputError("cannot open dataset " + path_.string() + ": check the path (--data)");
}

void TextDataset::seek(int64_t offset, int64_t line) {
  in_.clear();
  in_.seekg(offset);
  if (!in_)
    throw InputError("cannot seek to byte " + std::to_string(offset) + " of dataset " + path_.string() +
                     ": the file changed since the checkpoint was written");
  offset_ = offset;
  line_ = line;
}

std::optional<TextDocument> TextDataset::next() {
  std::string raw;
  while (true) {
    const int64_t start = offset_;
    if (!std::getline(in_, raw)) return std::nullopt;
    offset_ += static_cast<int64_t>(raw.size()) + (in_.eof() ? 0 : 1);
    ++line_;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (raw.find_first_not_of(" \t") == std::string::npos) continue;
    if (!jsonl_) return TextDocument{std::move(raw), start, line_};
    const auto where = path_.string() + ":" + std::to_string(line_);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(raw);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(where + ": not valid JSON (" + std::string(e.what()) +
                       "); a .jsonl dataset needs one object per line");
    }
    if (!j.is_object() || !j.contains(text_field_) || !j[text_field_].is_string())
      throw InputError(where + ": no string field \"" + text_field_ + "\"; choose the field with --text-field");
    auto text = j[text_field_].get<std::string>();
    if (text.empty()) continue;
    return TextDocument{std::move(text), start, line_};
  }
}

}  // namespace fpokit::sae
