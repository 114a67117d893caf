#include "fpokit/lm/tokenizer/tokenizer.h"

#include "fpokit/lm/tokenizer/bpe_tokenizer.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/sentencepiece_tokenizer.h"
#include "fpokit/lm/tokenizer/tokenizer_config.h"
#include "fpokit/lm/tokenizer/tokenizer_json.h"

namespace fpokit::lm {

std::unique_ptr<Tokenizer> Tokenizer::from_directory(const std::filesystem::path& model_dir) {
  if (!std::filesystem::is_directory(model_dir)) {
    throw TokenizerError(model_dir.string() + ": not a directory (expected a model directory with tokenizer files)");
  }
  const TokenizerConfig config = TokenizerConfig::read(model_dir);
  const auto json_file = model_dir / "tokenizer.json";
  const auto model_file = model_dir / "tokenizer.model";
  std::string json_kind;
  if (std::filesystem::exists(json_file)) {
    const nlohmann::json json = read_tokenizer_json_file(json_file);
    if (!json.is_object() || !json.contains("model") || !json.at("model").is_object()) {
      throw TokenizerError(json_file.string() + ": field 'model' is missing or not an object");
    }
    if (BpeTokenizer::is_byte_level_bpe(json)) return std::make_unique<BpeTokenizer>(json, json_file, config);
    json_kind = json.at("model").value("type", "untyped");
  }
  // Llama-2 and Gemma checkpoints ship a SentencePiece-converted tokenizer.json (not byte-level)
  // beside tokenizer.model; the latter is what their ids come from.
  if (std::filesystem::exists(model_file)) return std::make_unique<SentencePieceTokenizer>(model_file, config);
  if (!json_kind.empty()) {
    throw TokenizerError(json_file.string() + ": a " + json_kind +
                         " model without byte-level pre-tokenization is not supported, and " + model_dir.string() +
                         " has no tokenizer.model to use instead");
  }
  throw TokenizerError(model_dir.string() + ": no tokenizer.json (byte-level BPE) or tokenizer.model found");
}

}  // namespace fpokit::lm
