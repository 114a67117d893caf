#pragma once
// SentencePiece tokenizers (tokenizer.model of Llama-2, Gemma, ...) through libsentencepiece,
// made to give the ids of HF transformers' tokenizer for the same directory:
//  - special and added tokens (tokenizer_config.json's added_tokens_decoder and the named bos /
//    eos / unk / pad tokens) are recognised in the text as whole tokens; the text between them is
//    encoded by SentencePiece;
//  - the "▁" dummy prefix follows HF's Metaspace prepend scheme: "first" (only the piece at the
//    start of the text gets it, and only if it does not start with a space) unless
//    tokenizer_config.json says legacy=true ("always") or add_prefix_space=false, or the model
//    itself has add_dummy_prefix off (Gemma: never);
//  - BOS is added when add_bos_token (default true), EOS when add_eos_token (default false);
//  - decoding follows HF's decoders (byte pieces joined, invalid UTF-8 as one U+FFFD per byte,
//    one leading space stripped when the prefix scheme adds one).
// The sentencepiece library alone differs from transformers on special tokens written in the text
// and on a leading space (it adds a second "▁"); tests/fixtures/generate_tokenizers.py records
// both. Where the model's normalizer is not the identity (Llama-2 and Gemma use the identity),
// SentencePiece's normalization is applied, which transformers 5's LlamaTokenizer skips.
#include <filesystem>
#include <memory>
#include <string>

#include "fpokit/lm/tokenizer/added_vocabulary.h"
#include "fpokit/lm/tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace fpokit::lm {

struct TokenizerConfig;

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::filesystem::path& model_file, const TokenizerConfig& config);
  ~SentencePieceTokenizer() override;

  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  std::optional<int64_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;
  bool is_special(int64_t id) const override;

 private:
  enum class PrependScheme { Always, First, Never };

  void check_id(int64_t id) const;

  std::string source_;
  // The model as trained, and a copy with add_dummy_prefix off for pieces that get no "▁".
  std::unique_ptr<sentencepiece::SentencePieceProcessor> with_prefix_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> without_prefix_;
  AddedVocabulary added_;
  PrependScheme prepend_scheme_ = PrependScheme::First;
  bool add_bos_ = true;
  bool add_eos_ = false;
  int64_t piece_count_ = 0;
  int64_t vocab_size_ = 0;
};

}  // namespace fpokit::lm
