#pragma once
// Byte-level BPE tokenizers from HF tokenizer.json (GPT-2, Llama-3, Qwen2 and their relatives),
// giving the same ids as HF tokenizers / transformers. The encoding pipeline is HF's:
//   added tokens (raw text) -> normalizer -> added tokens (normalized text) -> pre_tokenizer
//   (Split / ByteLevel) -> BPE model -> post_processor (BOS etc., with add_special_tokens);
// decoding maps the tokens back to bytes and turns invalid UTF-8 into U+FFFD. encode() and
// decode() are thread-safe.
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "fpokit/lm/tokenizer/added_vocabulary.h"
#include "fpokit/lm/tokenizer/tokenizer.h"

namespace fpokit::lm {

class BpeModel;
class PostProcessor;
class PreTokenizer;
class TextNormalizer;
struct TokenizerConfig;

class BpeTokenizer final : public Tokenizer {
 public:
  // Whether `tokenizer_json` has a BPE model with a ByteLevel pre-tokenizer or decoder, the kind
  // this class reads (SentencePiece-converted tokenizer.json files are BPE with Metaspace).
  static bool is_byte_level_bpe(const nlohmann::json& tokenizer_json);

  // `source`: the tokenizer.json path, for error messages. BOS/EOS/pad ids come from `config`.
  BpeTokenizer(const nlohmann::json& tokenizer_json, const std::filesystem::path& source,
               const TokenizerConfig& config);
  ~BpeTokenizer() override;

  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  std::optional<int64_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;
  bool is_special(int64_t id) const override;

 private:
  void encode_segment(std::string_view text, std::vector<int64_t>& ids) const;
  void check_id(int64_t id) const;

  std::string source_;
  AddedVocabulary added_;
  std::unique_ptr<TextNormalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  bool byte_level_decoder_ = false;
  int64_t vocab_size_ = 0;
};

}  // namespace fpokit::lm
