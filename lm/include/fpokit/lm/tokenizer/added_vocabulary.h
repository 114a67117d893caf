#pragma once
// Added tokens (special ones like <|eot_id|> and plain ones like Qwen2's <tool_call>) and the
// first step of encoding: cutting the text at them, as HF tokenizers' AddedVocabulary does.
// Matching is leftmost-longest over all tokens of a pass; a match of a single_word token that
// touches a word character is skipped; lstrip / rstrip tokens swallow the whitespace beside them.
// Tokens with normalized=false are matched in the raw text, those with normalized=true in the
// normalized text of the remaining pieces.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fpokit::lm {

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

// A piece of the text: an added token's id, or text to tokenize normally.
struct TextSegment {
  std::optional<int64_t> token_id;
  std::string_view text;
  std::size_t offset = 0;  // byte offset of `text` in the string that was split
};

class AddedVocabulary {
 public:
  // Adds `token`; a later token with the same content or id replaces the earlier one.
  // `matched_content` is what is searched for in the text (the content, normalized when
  // token.normalized and the tokenizer has a normalizer).
  void add(const AddedToken& token, std::string matched_content);
  void add(const AddedToken& token) { add(token, token.content); }

  // Cuts `text` at the tokens with the given `normalized` flag. Segments cover `text` in order;
  // empty text segments are left out.
  std::vector<TextSegment> split(std::string_view text, bool normalized) const;

  const AddedToken* find(int64_t id) const;
  const AddedToken* find(std::string_view content) const;
  bool empty() const { return tokens_.empty(); }
  std::optional<int64_t> max_id() const;

 private:
  struct Trie {
    struct Node {
      std::unordered_map<unsigned char, int32_t> children;
      int32_t token = -1;  // index into tokens_
    };
    std::vector<Node> nodes{Node{}};
    void insert(std::string_view text, int32_t token);
    // Longest token starting at text[pos]: (token index, length), or token index -1.
    std::pair<int32_t, std::size_t> longest_at(std::string_view text, std::size_t pos) const;
  };

  void rebuild();

  std::vector<AddedToken> tokens_;
  std::vector<std::string> matched_;
  std::unordered_map<int64_t, std::size_t> by_id_;
  std::unordered_map<std::string, std::size_t> by_content_;
  Trie raw_trie_;
  Trie normalized_trie_;
};

}  // namespace fpokit::lm
