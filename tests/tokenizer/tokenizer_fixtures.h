#pragma once
// The golden tokenizer fixtures of tests/fixtures/tokenizers (made by
// tests/fixtures/generate_tokenizers.py): model-directory-like folders and expected.json with the
// ids and texts HF transformers gives.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace fpokit::test {

inline std::filesystem::path tokenizer_fixture(const std::string& name) { return fixture("tokenizers/" + name); }

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

inline nlohmann::json expected_for(const std::string& name) {
  return read_json(tokenizer_fixture(name) / "expected.json");
}

inline std::vector<int64_t> ids_of(const nlohmann::json& value) { return value.get<std::vector<int64_t>>(); }

// Byte-level BPE fixtures (tokenizer.json) and SentencePiece ones (tokenizer.model).
inline const std::vector<std::string> kBpeFixtures = {"gpt2", "gpt2-prefix", "llama3", "qwen2"};
inline const std::vector<std::string> kSentencePieceFixtures = {"llama2-sp", "gemma-sp"};

}  // namespace fpokit::test
