// Missing, corrupt and unsupported tokenizer files, bad ids and bad text give TokenizerError (or
// ConfigError for tokenizer_config.json) with a message that names the file and the problem.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>

#include "fpokit/lm/tokenizer/bpe_tokenizer.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_fixtures.h"

using fpokit::TokenizerError;
using fpokit::lm::Tokenizer;
using namespace fpokit::test;

namespace {

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A copy of fixture `name`'s tokenizer.json with `edit` applied, alone in `dir`.
void write_edited_tokenizer_json(const TempDir& dir, const std::string& name,
                                 const std::function<void(nlohmann::json&)>& edit) {
  auto json = read_json(tokenizer_fixture(name) / "tokenizer.json");
  edit(json);
  write_file(dir / "tokenizer.json", json.dump());
}

template <typename Error = TokenizerError>
std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("no exception of the expected type was thrown");
  return "";
}

std::string load_error(const std::filesystem::path& dir) {
  return error_of([&] { Tokenizer::from_directory(dir); });
}

}  // namespace

TEST_CASE("tokenizer: a missing directory or no tokenizer files", "[tokenizer]") {
  TempDir dir;
  const auto missing = dir / "nope";
  CHECK_THAT(load_error(missing), Catch::Contains(missing.string()) && Catch::Contains("not a directory"));
  CHECK_THAT(load_error(dir.path()),
             Catch::Contains(dir.path().string() + ": no tokenizer.json (byte-level BPE) or tokenizer.model found"));
  write_file(dir / "tokenizer_config.json", "{\"bos_token\": \"<s>\"}");
  CHECK_THAT(load_error(dir.path()), Catch::Contains("no tokenizer.json (byte-level BPE) or tokenizer.model found"));
}

TEST_CASE("tokenizer: corrupt tokenizer.json", "[tokenizer]") {
  TempDir dir;
  const std::string file = (dir / "tokenizer.json").string();

  write_file(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file) && Catch::Contains("invalid JSON"));

  write_file(dir / "tokenizer.json", "[1, 2, 3]");
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file) && Catch::Contains("'model'"));

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["model"].erase("vocab"); });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": model: field 'vocab' is missing"));

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["model"]["vocab"] = nlohmann::json::array({"a"}); });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": model.vocab: must be a JSON object"));

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["model"]["vocab"]["Ġthe"] = "five"; });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": model.vocab") && Catch::Contains("invalid id"));

  // gpt2's merges are "a b" strings, llama3's ["a", "b"] pairs.
  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["model"]["merges"][3] = "nospace"; });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": model.merges[3]") && Catch::Contains("separated by a space"));

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["model"]["merges"][5] = "Ġ qqqqqq"; });
  CHECK_THAT(load_error(dir.path()),
             Catch::Contains(file + ": model.merges[5]") && Catch::Contains("'qqqqqq'") && Catch::Contains("not in model.vocab"));

  write_edited_tokenizer_json(dir, "llama3", [](auto& j) { j["model"]["merges"][0] = nlohmann::json::array({"a"}); });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": model.merges[0]"));

  write_edited_tokenizer_json(dir, "llama3", [](auto& j) { j["added_tokens"][0].erase("id"); });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": added_tokens[0]: field 'id' is missing"));

  write_edited_tokenizer_json(dir, "llama3", [](auto& j) {
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": pre_tokenizer.pretokenizers[0].pattern") &&
                                         Catch::Contains("does not compile"));
}

TEST_CASE("tokenizer: unsupported tokenizer.json components are named", "[tokenizer]") {
  TempDir dir;
  const std::string file = (dir / "tokenizer.json").string();

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; });
  CHECK_THAT(load_error(dir.path()),
             Catch::Contains(file + ": pre_tokenizer: pre_tokenizer type 'Whitespace' is not supported"));

  write_edited_tokenizer_json(dir, "llama3", [](auto& j) {
    j["pre_tokenizer"]["pretokenizers"][1] = {{"type", "Digits"}, {"individual_digits", true}};
  });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": pre_tokenizer.pretokenizers[1]") &&
                                         Catch::Contains("'Digits' is not supported"));

  write_edited_tokenizer_json(dir, "llama3", [](auto& j) {
    j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "MergedWithPrevious";
  });
  CHECK_THAT(load_error(dir.path()), Catch::Contains("Split behavior 'MergedWithPrevious' is not supported"));

  write_edited_tokenizer_json(dir, "qwen2", [](auto& j) { j["normalizer"] = {{"type", "Lowercase"}}; });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": normalizer: normalizer type 'Lowercase'"));

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["decoder"] = {{"type", "WordPiece"}}; });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": decoder: decoder type 'WordPiece'"));

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["post_processor"] = {{"type", "BertProcessing"}}; });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": post_processor: post_processor type 'BertProcessing'"));

  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) { j["model"]["continuing_subword_prefix"] = "##"; });
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": model.continuing_subword_prefix"));

  // A SentencePiece-style tokenizer.json (Metaspace, no byte-level step) without tokenizer.model.
  std::filesystem::copy_file(tokenizer_fixture("llama2-sp") / "tokenizer.json", dir / "tokenizer.json",
                             std::filesystem::copy_options::overwrite_existing);
  CHECK_THAT(load_error(dir.path()), Catch::Contains(file + ": a BPE model without byte-level pre-tokenization") &&
                                         Catch::Contains("no tokenizer.model"));
}

TEST_CASE("tokenizer: corrupt tokenizer.model and tokenizer_config.json", "[tokenizer]") {
  TempDir dir;
  write_file(dir / "tokenizer.model", std::string("\x0a\xff\xff\xff\x0f garbage", 12));
  CHECK_THAT(load_error(dir.path()), Catch::Contains((dir / "tokenizer.model").string()) &&
                                         Catch::Contains("not a valid SentencePiece model"));

  std::filesystem::copy_file(tokenizer_fixture("gpt2") / "tokenizer.json", dir / "tokenizer.json");
  write_file(dir / "tokenizer_config.json", "{\"bos_token\": ");
  const auto message = error_of<fpokit::ConfigError>([&] { Tokenizer::from_directory(dir.path()); });
  CHECK_THAT(message, Catch::Contains((dir / "tokenizer_config.json").string()) && Catch::Contains("invalid JSON"));
  write_file(dir / "tokenizer_config.json", "{\"eos_token\": 7}");
  CHECK_THAT(error_of<fpokit::ConfigError>([&] { Tokenizer::from_directory(dir.path()); }),
             Catch::Contains("field 'eos_token' must be a string"));
  write_file(dir / "tokenizer_config.json", "{}");
  write_file(dir / "generation_config.json", "{\"eos_token_id\": [1, \"x\"]}");
  CHECK_THAT(error_of<fpokit::ConfigError>([&] { Tokenizer::from_directory(dir.path()); }),
             Catch::Contains("generation_config.json: field 'eos_token_id'"));
}

TEST_CASE("tokenizer: out-of-range ids and invalid UTF-8 text", "[tokenizer]") {
  for (const std::string name : {"gpt2", "llama3", "llama2-sp", "gemma-sp"}) {
    SECTION(name) {
      const auto tokenizer = Tokenizer::from_directory(tokenizer_fixture(name));
      const int64_t size = tokenizer->vocab_size();
      for (const int64_t bad : {size, size + 1000, int64_t{-1}}) {
        CHECK_THAT(error_of([&] { tokenizer->decode({0, bad}); }),
                   Catch::Contains("token id " + std::to_string(bad) + " is out of range [0, " + std::to_string(size) + ")"));
        CHECK_THROWS_AS(tokenizer->id_to_token(bad), TokenizerError);
      }
      CHECK_NOTHROW(tokenizer->decode({size - 1}));
      CHECK_THAT(error_of([&] { tokenizer->encode(std::string("ok \xC3\x28 bad")); }),
                 Catch::Contains("not valid UTF-8 (byte 0xC3 at offset 3)"));
      CHECK_THROWS_AS(tokenizer->encode(std::string("\xED\xA0\x80")), TokenizerError);  // a surrogate
      CHECK_THROWS_AS(tokenizer->encode(std::string("\xF4\x90\x80\x80")), TokenizerError);  // above U+10FFFF
      CHECK_THROWS_AS(tokenizer->encode(std::string("\xC0\xAF")), TokenizerError);  // overlong
    }
  }
}

TEST_CASE("tokenizer: merges as strings and as pairs load the same model", "[tokenizer]") {
  TempDir dir;
  write_edited_tokenizer_json(dir, "gpt2", [](auto& j) {
    for (auto& merge : j["model"]["merges"]) {
      const std::string text = merge;
      const auto space = text.find(' ');
      merge = nlohmann::json::array({text.substr(0, space), text.substr(space + 1)});
    }
  });
  std::filesystem::copy_file(tokenizer_fixture("gpt2") / "tokenizer_config.json", dir / "tokenizer_config.json");
  const auto pairs = Tokenizer::from_directory(dir.path());
  const auto strings = Tokenizer::from_directory(tokenizer_fixture("gpt2"));
  const auto expected = expected_for("gpt2");
  REQUIRE(expected.at("cases").size() >= 200);
  for (const auto& c : expected.at("cases")) {
    const std::string text = c.at("text");
    CHECK(pairs->encode(text) == strings->encode(text));
  }
}
