// The pre-tokenizer of each byte-level fixture alone (PCRE2 running the tokenizer.json regexes,
// ByteLevel's prefix space and byte map) gives the pieces of HF's pre_tokenize_str. This pins the
// regex layer apart from BPE merges, which could hide a different split.
#include <catch2/catch.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/pre_tokenizer.h"
#include "fpokit/lm/tokenizer/tokenizer_regex.h"
#include "tokenizer/tokenizer_fixtures.h"

using namespace fpokit::test;

TEST_CASE("tokenizer: pre-tokenizers split like HF", "[tokenizer]") {
  for (const auto& name : kBpeFixtures) {
    SECTION(name) {
      const auto file = tokenizer_fixture(name) / "tokenizer.json";
      const auto json = read_json(file);
      const auto pre_tokenizer =
          fpokit::lm::PreTokenizer::from_json(fpokit::lm::JsonNode(json.at("pre_tokenizer"), file.string(), "pre_tokenizer"));
      REQUIRE(pre_tokenizer != nullptr);
      CHECK(pre_tokenizer->has_byte_level());
      const auto expected = expected_for(name);
      REQUIRE(expected.at("cases").size() >= 200);
      for (const auto& c : expected.at("cases")) {
        std::vector<std::string> pieces{c.at("text").get<std::string>()};
        pre_tokenizer->pre_tokenize(pieces);
        INFO("text " << c.at("text").dump());
        CHECK(pieces == c.at("pre_tokens").get<std::vector<std::string>>());
      }
    }
  }
}

TEST_CASE("tokenizer: regex whitespace is Unicode White_Space as in Oniguruma", "[tokenizer]") {
  // PCRE2 alone would take U+180E (Mongolian vowel separator) for whitespace; HF does not.
  const fpokit::lm::TokenizerRegex regex(R"(\s+|\S+|[^\s])", "test");
  CHECK(regex.find_all("a\u180Eb").size() == 1);
  CHECK(regex.find_all("a\u0085b").size() == 3);
  CHECK(regex.find_all("a\u3000\u2028b").size() == 3);
  CHECK(regex.find_all("a\u200Bb").size() == 1);  // zero width space: not White_Space
  CHECK_THROWS_AS(fpokit::lm::TokenizerRegex(R"([^\S])", "test"), fpokit::TokenizerError);
}
