#pragma once
// Tokenizers of HF model directories, behind one interface:
//  - tokenizer.json with a byte-level BPE model (GPT-2, Llama-3, Qwen2 pre-tokenizers, added and
//    special tokens) -> BpeTokenizer (bpe_tokenizer.h);
//  - tokenizer.model (SentencePiece: Gemma, Llama 2) -> SentencePieceTokenizer.
// BOS/EOS handling follows tokenizer_config.json (add_bos_token, add_eos_token, bos_token,
// eos_token) and tokenizer.json's post_processor, as HF transformers does.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fpokit::lm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Chooses the implementation from the files in `model_dir`; throws TokenizerError naming the
  // file when none is usable or a file is corrupt.
  static std::unique_ptr<Tokenizer> from_directory(const std::filesystem::path& model_dir);

  // Token ids of `text`. With add_special_tokens, BOS/EOS are added as the model's tokenizer
  // config says (HF's `tokenizer(text)` default); without, the plain encoding
  // (`tokenizer(text, add_special_tokens=False)`).
  virtual std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const = 0;
  // Text of `ids`; special tokens are kept unless skip_special_tokens. Throws TokenizerError for
  // an id outside [0, vocab_size()).
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const = 0;

  virtual int64_t vocab_size() const = 0;  // including added tokens
  virtual std::optional<int64_t> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(int64_t id) const = 0;
  virtual bool is_special(int64_t id) const = 0;

  std::optional<int64_t> bos_id() const { return bos_id_; }
  const std::vector<int64_t>& eos_ids() const { return eos_ids_; }
  std::optional<int64_t> pad_id() const { return pad_id_; }

 protected:
  std::optional<int64_t> bos_id_;
  std::vector<int64_t> eos_ids_;
  std::optional<int64_t> pad_id_;
};

}  // namespace fpokit::lm
