#include "fpokit/lm/tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "fpokit/lm/tokenizer/bpe_model.h"
#include "fpokit/lm/tokenizer/byte_level.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/post_processor.h"
#include "fpokit/lm/tokenizer/pre_tokenizer.h"
#include "fpokit/lm/tokenizer/text_normalizer.h"
#include "fpokit/lm/tokenizer/tokenizer_config.h"
#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm {
namespace {

bool has_type(const nlohmann::json& component, const std::string& type) {
  if (!component.is_object()) return false;
  if (component.value("type", "") == type) return true;
  for (const char* list : {"pretokenizers", "decoders"}) {
    if (component.contains(list) && component.at(list).is_array()) {
      for (const auto& step : component.at(list)) {
        if (has_type(step, type)) return true;
      }
    }
  }
  return false;
}

AddedToken read_added_token(const JsonNode& node) {
  AddedToken token;
  const JsonNode id = node.at("id");
  if (!id.value().is_number_integer() || id.value().get<int64_t>() < 0) id.fail("must be a token id");
  token.id = id.value().get<int64_t>();
  token.content = node.string("content");
  token.special = node.boolean("special", false);
  token.single_word = node.boolean("single_word", false);
  token.lstrip = node.boolean("lstrip", false);
  token.rstrip = node.boolean("rstrip", false);
  token.normalized = node.boolean("normalized", !token.special);
  return token;
}

}  // namespace

bool BpeTokenizer::is_byte_level_bpe(const nlohmann::json& tokenizer_json) {
  if (!tokenizer_json.is_object() || !tokenizer_json.contains("model")) return false;
  const auto& model = tokenizer_json.at("model");
  if (!model.is_object() || model.value("type", "BPE") != "BPE") return false;
  return (tokenizer_json.contains("pre_tokenizer") && has_type(tokenizer_json.at("pre_tokenizer"), "ByteLevel")) ||
         (tokenizer_json.contains("decoder") && has_type(tokenizer_json.at("decoder"), "ByteLevel"));
}

BpeTokenizer::BpeTokenizer(const nlohmann::json& tokenizer_json, const std::filesystem::path& source,
                           const TokenizerConfig& config)
    : source_(source.string()) {
  const JsonNode root(tokenizer_json, source_);
  root.object();
  const JsonNode model = root.at("model");
  model.object();
  if (model.has("type") && model.string("type") != "BPE") {
    model.at("type").fail("model type '" + model.string("type") + "' is not supported (supported: BPE)");
  }
  model_ = std::make_unique<BpeModel>(model);
  normalizer_ = root.has("normalizer") ? TextNormalizer::from_json(root.at("normalizer")) : nullptr;
  pre_tokenizer_ = root.has("pre_tokenizer") ? PreTokenizer::from_json(root.at("pre_tokenizer")) : nullptr;
  post_processor_ = root.has("post_processor") ? PostProcessor::from_json(root.at("post_processor")) : nullptr;
  if (root.has("decoder")) {
    const JsonNode decoder = root.at("decoder");
    decoder.object();
    const std::string type = decoder.type();
    if (type != "ByteLevel") decoder.fail("decoder type '" + type + "' is not supported (supported: ByteLevel)");
    byte_level_decoder_ = true;
  }

  vocab_size_ = model_->max_id() + 1;
  if (root.has("added_tokens")) {
    const JsonNode list = root.at("added_tokens");
    for (std::size_t i = 0; i < list.array().size(); ++i) {
      const AddedToken token = read_added_token(list.at(i));
      // normalized tokens are searched for in normalized text, so in their normalized form.
      added_.add(token, token.normalized && normalizer_ ? normalizer_->normalize(token.content) : token.content);
      vocab_size_ = std::max(vocab_size_, token.id + 1);
    }
  }

  const auto id_of = [&](const std::optional<std::string>& token) -> std::optional<int64_t> {
    return token ? token_to_id(*token) : std::nullopt;
  };
  bos_id_ = id_of(config.bos_token);
  pad_id_ = id_of(config.pad_token);
  if (const auto eos = id_of(config.eos_token)) eos_ids_.push_back(*eos);
  for (const int64_t id : config.generation_eos_token_ids) {
    if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
  }
}

BpeTokenizer::~BpeTokenizer() = default;

void BpeTokenizer::encode_segment(std::string_view text, std::vector<int64_t>& ids) const {
  std::vector<std::string> pieces{std::string(text)};
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
  for (const std::string& piece : pieces) model_->tokenize(piece, ids);
}

std::vector<int64_t> BpeTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  require_valid_utf8(text, "text to encode");
  std::vector<int64_t> ids;
  for (const TextSegment& segment : added_.split(text, /*normalized=*/false)) {
    if (segment.token_id) {
      ids.push_back(*segment.token_id);
      continue;
    }
    const std::string normalized = normalizer_ ? normalizer_->normalize(segment.text) : std::string(segment.text);
    for (const TextSegment& piece : added_.split(normalized, /*normalized=*/true)) {
      if (piece.token_id) {
        ids.push_back(*piece.token_id);
      } else {
        encode_segment(piece.text, ids);
      }
    }
  }
  if (add_special_tokens && post_processor_) ids = post_processor_->process(ids);
  return ids;
}

void BpeTokenizer::check_id(int64_t id) const {
  if (id < 0 || id >= vocab_size_) {
    throw TokenizerError(source_ + ": token id " + std::to_string(id) + " is out of range [0, " +
                         std::to_string(vocab_size_) + ")");
  }
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  // As HF tokenizers: the tokens (added ones as their content) go through the decoder together;
  // ByteLevel maps each token's characters back to bytes (a token with a character outside the
  // byte alphabet gives its own UTF-8) and invalid UTF-8 in the result becomes U+FFFD. Without a
  // decoder the tokens are joined by spaces.
  std::string bytes;
  bool first = true;
  for (const int64_t id : ids) {
    check_id(id);
    const AddedToken* added = added_.find(id);
    if (added && skip_special_tokens && added->special) continue;
    const std::string* token = added ? &added->content : model_->id_to_token(id);
    if (token == nullptr) continue;  // an id inside the range that nothing uses: HF skips it
    if (byte_level_decoder_) {
      const auto decoded = byte_level_decode(*token);
      bytes += decoded ? *decoded : *token;
    } else {
      if (!first) bytes += ' ';
      bytes += *token;
    }
    first = false;
  }
  return byte_level_decoder_ ? utf8_lossy(bytes) : bytes;
}

std::optional<int64_t> BpeTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* added = added_.find(token)) return added->id;
  return model_->token_to_id(token);
}

std::string BpeTokenizer::id_to_token(int64_t id) const {
  check_id(id);
  if (const AddedToken* added = added_.find(id)) return added->content;
  if (const std::string* token = model_->id_to_token(id)) return *token;
  throw TokenizerError(source_ + ": token id " + std::to_string(id) + " is not in the vocabulary");
}

bool BpeTokenizer::is_special(int64_t id) const {
  const AddedToken* added = added_.find(id);
  return added != nullptr && added->special;
}

}  // namespace fpokit::lm
