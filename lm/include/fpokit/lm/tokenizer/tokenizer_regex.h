#pragma once
// A pre-tokenizer regex from tokenizer.json, run with PCRE2 (UTF + UCP, JIT when available).
// HF tokenizers runs these patterns with Oniguruma; the one difference that matters for the
// patterns of GPT-2, Llama-3 and Qwen2 is \s, which PCRE2 takes to include U+180E and Oniguruma
// does not, so \s and \S are rewritten to the explicit Unicode White_Space set. Matching is
// thread-safe.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace fpokit::lm {

class TokenizerRegex {
 public:
  // `where` names the pattern's origin for error messages ("tokenizer.json: pre_tokenizer ...").
  TokenizerRegex(const std::string& pattern, const std::string& where);
  ~TokenizerRegex();
  TokenizerRegex(TokenizerRegex&&) noexcept;
  TokenizerRegex& operator=(TokenizerRegex&&) noexcept;

  // [begin, end) byte ranges of the successive non-overlapping matches in `text` (valid UTF-8),
  // leftmost first; empty matches are left out.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

  // The pattern as given to PCRE2 after the Oniguruma rewrite (for tests and messages).
  const std::string& pcre2_pattern() const { return pcre2_pattern_; }

 private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  std::unique_ptr<pcre2_real_code_8, CodeDeleter> code_;
  std::string pcre2_pattern_;
  std::string where_;
  bool jit_ = false;
};

}  // namespace fpokit::lm
