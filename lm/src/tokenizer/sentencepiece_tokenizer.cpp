#include "fpokit/lm/tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer_config.h"
#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁"

// --- a minimal protobuf wire-format walk: enough to read and switch off the model's
// NormalizerSpec.add_dummy_prefix (ModelProto field 3, NormalizerSpec field 3), which
// libsentencepiece offers no run-time option for.

struct ProtoField {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;             // wire type 0
  std::string_view payload;        // wire type 2
  std::size_t begin = 0, end = 0;  // the whole field, key included
};

bool read_varint(std::string_view data, std::size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(data[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

void write_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

std::vector<ProtoField> read_fields(std::string_view data, const std::string& where) {
  std::vector<ProtoField> fields;
  std::size_t pos = 0;
  const auto corrupt = [&] { throw TokenizerError(where + ": not a valid SentencePiece model (bad protobuf data)"); };
  while (pos < data.size()) {
    ProtoField field;
    field.begin = pos;
    uint64_t key;
    if (!read_varint(data, pos, key)) corrupt();
    field.number = static_cast<uint32_t>(key >> 3);
    field.wire_type = static_cast<uint32_t>(key & 7);
    uint64_t length = 0;
    switch (field.wire_type) {
      case 0:
        if (!read_varint(data, pos, field.varint)) corrupt();
        break;
      case 1: length = 8; break;
      case 5: length = 4; break;
      case 2:
        if (!read_varint(data, pos, length)) corrupt();
        if (length > data.size() - pos) corrupt();
        field.payload = data.substr(pos, length);
        break;
      default: corrupt();
    }
    if (length > data.size() - pos) corrupt();
    pos += length;
    field.end = pos;
    fields.push_back(field);
  }
  return fields;
}

// The model's add_dummy_prefix, and the serialized model with it switched off.
std::pair<bool, std::string> without_dummy_prefix(const std::string& model, const std::string& where) {
  constexpr uint32_t kNormalizerSpec = 3, kAddDummyPrefix = 3;
  bool enabled = true;  // the proto default
  bool has_spec = false;
  std::string out;
  for (const ProtoField& field : read_fields(model, where)) {
    if (field.number != kNormalizerSpec || field.wire_type != 2) {
      out.append(model, field.begin, field.end - field.begin);
      continue;
    }
    has_spec = true;
    std::string spec;
    for (const ProtoField& sub : read_fields(field.payload, where)) {
      if (sub.number == kAddDummyPrefix && sub.wire_type == 0) {
        enabled = sub.varint != 0;
      } else {
        spec.append(field.payload.substr(sub.begin, sub.end - sub.begin));
      }
    }
    spec += std::string("\x18\x00", 2);  // add_dummy_prefix: false
    write_varint(out, (kNormalizerSpec << 3) | 2);
    write_varint(out, spec.size());
    out += spec;
  }
  if (!has_spec) out += std::string("\x1A\x02\x18\x00", 4);
  return {enabled, out};
}

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_processor(const std::string& serialized,
                                                                      const std::string& where) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(serialized);
  if (!status.ok()) throw TokenizerError(where + ": not a valid SentencePiece model (" + status.ToString() + ")");
  return processor;
}

// "<0x41>" -> 0x41, as HF's ByteFallback decoder reads byte pieces.
std::optional<unsigned char> byte_piece_value(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return std::nullopt;
  unsigned value = 0;
  for (const char c : piece.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') value |= static_cast<unsigned>(c - 'A' + 10);
    else return std::nullopt;
  }
  return static_cast<unsigned char>(value);
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file, const TokenizerConfig& config)
    : source_(model_file.string()) {
  std::ifstream in(model_file, std::ios::binary);
  if (!in) throw TokenizerError(source_ + ": cannot open the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string serialized = buffer.str();
  const auto [dummy_prefix, serialized_without] = without_dummy_prefix(serialized, source_);
  with_prefix_ = load_processor(serialized, source_);
  without_prefix_ = load_processor(serialized_without, source_);
  piece_count_ = with_prefix_->GetPieceSize();
  vocab_size_ = piece_count_;

  if (!dummy_prefix || config.add_prefix_space == false) {
    prepend_scheme_ = PrependScheme::Never;
  } else {
    prepend_scheme_ = config.legacy.value_or(false) ? PrependScheme::Always : PrependScheme::First;
  }

  // Added tokens: those tokenizer_config.json lists, then the named special tokens and the
  // model's own control pieces, which HF's tokenizer classes name by default.
  for (const AddedToken& token : config.added_tokens_decoder) {
    added_.add(token);
    vocab_size_ = std::max(vocab_size_, token.id + 1);
  }
  const auto add_special = [&](const std::string& content) {
    if (added_.find(content)) return;
    const int id = with_prefix_->PieceToId(content);
    if (id == with_prefix_->unk_id() && content != with_prefix_->IdToPiece(id)) return;  // not in the vocab
    AddedToken token;
    token.content = content;
    token.id = id;
    token.special = true;
    added_.add(token);
  };
  for (const auto& name : {config.bos_token, config.eos_token, config.unk_token, config.pad_token}) {
    if (name) add_special(*name);
  }
  for (const auto& name : config.other_special_tokens) add_special(name);
  for (const int id : {with_prefix_->bos_id(), with_prefix_->eos_id(), with_prefix_->unk_id(), with_prefix_->pad_id()}) {
    if (id >= 0 && id < piece_count_) add_special(with_prefix_->IdToPiece(id));
  }

  const auto id_of = [&](const std::optional<std::string>& name, int fallback) -> std::optional<int64_t> {
    if (name) return token_to_id(*name);
    if (fallback >= 0) return fallback;
    return std::nullopt;
  };
  bos_id_ = id_of(config.bos_token, with_prefix_->bos_id());
  pad_id_ = id_of(config.pad_token, -1);
  if (const auto eos = id_of(config.eos_token, with_prefix_->eos_id())) eos_ids_.push_back(*eos);
  for (const int64_t id : config.generation_eos_token_ids) {
    if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
  }
  add_bos_ = config.add_bos_token.value_or(true) && bos_id_.has_value();
  add_eos_ = config.add_eos_token.value_or(false) && !eos_ids_.empty();
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int64_t> SentencePieceTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  require_valid_utf8(text, "text to encode");
  std::vector<int64_t> ids;
  if (add_special_tokens && add_bos_) ids.push_back(*bos_id_);
  std::vector<int> piece_ids;
  for (const TextSegment& segment : added_.split(text, /*normalized=*/false)) {
    if (segment.token_id) {
      ids.push_back(*segment.token_id);
      continue;
    }
    // No normalizer in HF's pipeline: normalized added tokens are matched in the same text.
    for (const TextSegment& piece : added_.split(segment.text, /*normalized=*/true)) {
      if (piece.token_id) {
        ids.push_back(*piece.token_id);
        continue;
      }
      const bool at_start = segment.offset + piece.offset == 0;
      const bool starts_with_space = piece.text.front() == ' ' || piece.text.substr(0, 3) == kSpaceMarker;
      const bool prefix = !starts_with_space && (prepend_scheme_ == PrependScheme::Always ||
                                                 (prepend_scheme_ == PrependScheme::First && at_start));
      const auto& processor = prefix ? with_prefix_ : without_prefix_;
      const auto status = processor->Encode(piece.text, &piece_ids);
      if (!status.ok()) throw TokenizerError(source_ + ": SentencePiece encoding failed: " + status.ToString());
      ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    }
  }
  if (add_special_tokens && add_eos_) ids.push_back(eos_ids_.front());
  return ids;
}

void SentencePieceTokenizer::check_id(int64_t id) const {
  if (id < 0 || id >= vocab_size_) {
    throw TokenizerError(source_ + ": token id " + std::to_string(id) + " is out of range [0, " +
                         std::to_string(vocab_size_) + ")");
  }
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  // HF's decoders for SentencePiece models, over all tokens (added ones as their content):
  // "▁" -> " ", runs of byte pieces -> their UTF-8 (or one U+FFFD per byte when the run is not
  // valid UTF-8), everything joined, then one leading space stripped when the prefix scheme
  // adds one.
  std::string text;
  std::string bytes;
  const auto flush_bytes = [&] {
    if (utf8_find_invalid(bytes) == std::string::npos) {
      text += bytes;
    } else {
      for (std::size_t i = 0; i < bytes.size(); ++i) text += "\xEF\xBF\xBD";
    }
    bytes.clear();
  };
  for (const int64_t id : ids) {
    check_id(id);
    const AddedToken* added = added_.find(id);
    if (added && skip_special_tokens && added->special) continue;
    if (!added && id >= piece_count_) continue;  // an id inside the range that nothing uses
    const std::string& piece = added ? added->content : with_prefix_->IdToPiece(static_cast<int>(id));
    if (const auto byte = byte_piece_value(piece)) {
      bytes += static_cast<char>(*byte);
      continue;
    }
    flush_bytes();
    for (std::size_t pos = 0; pos < piece.size();) {
      if (piece.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0) {
        text += ' ';
        pos += kSpaceMarker.size();
      } else {
        text += piece[pos++];
      }
    }
  }
  flush_bytes();
  if (prepend_scheme_ != PrependScheme::Never && !text.empty() && text.front() == ' ') text.erase(0, 1);
  return text;
}

std::optional<int64_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* added = added_.find(token)) return added->id;
  const int id = with_prefix_->PieceToId(token);
  if (id < 0 || (id == with_prefix_->unk_id() && token != with_prefix_->IdToPiece(id))) return std::nullopt;
  return id;
}

std::string SentencePieceTokenizer::id_to_token(int64_t id) const {
  check_id(id);
  if (const AddedToken* added = added_.find(id)) return added->content;
  if (id >= piece_count_) throw TokenizerError(source_ + ": token id " + std::to_string(id) + " is not in the vocabulary");
  return with_prefix_->IdToPiece(static_cast<int>(id));
}

bool SentencePieceTokenizer::is_special(int64_t id) const {
  const AddedToken* added = added_.find(id);
  return added != nullptr && added->special;
}

}  // namespace fpokit::lm
