#pragma once
// The tokenizer settings of a HF model directory outside tokenizer.json / tokenizer.model:
// tokenizer_config.json (bos/eos/unk/pad tokens as a string or a {"content": ...} object,
// add_bos_token, add_eos_token, add_prefix_space, legacy, added_tokens_decoder), with
// special_tokens_map.json as the fallback for the named tokens, and generation_config.json's
// eos_token_id (an int or a list). Every file is optional; a malformed one throws ConfigError
// naming the file and field.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fpokit/lm/tokenizer/added_vocabulary.h"

namespace fpokit::lm {

struct TokenizerConfig {
  static TokenizerConfig read(const std::filesystem::path& model_dir);

  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> unk_token;
  std::optional<std::string> pad_token;
  // Other named special tokens: additional_special_tokens / extra_special_tokens, mask, cls, sep.
  std::vector<std::string> other_special_tokens;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::optional<bool> add_prefix_space;
  std::optional<bool> legacy;
  std::vector<AddedToken> added_tokens_decoder;
  std::vector<int64_t> generation_eos_token_ids;  // from generation_config.json
};

}  // namespace fpokit::lm
