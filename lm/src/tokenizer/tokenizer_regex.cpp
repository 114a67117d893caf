#include "fpokit/lm/tokenizer/tokenizer_regex.h"

#include <pcre2.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

// Oniguruma's \s (what HF matches with) is exactly Unicode White_Space; PCRE2's \s in UCP mode
// also takes U+180E (Mongolian vowel separator, no longer a space since Unicode 6.3). Both are
// replaced by the explicit White_Space set.
constexpr const char* kWhiteSpaceSet =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string rewrite_oniguruma(const std::string& pattern, const std::string& where) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpaceSet) : "[" + std::string(kWhiteSpaceSet) + "]";
      } else if (e == 'S') {
        if (in_class) throw TokenizerError(where + ": \\S inside a character class is not supported in " + pattern);
        out += "[^" + std::string(kWhiteSpaceSet) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (in_class && c == '[') throw TokenizerError(where + ": nested character classes are not supported in " + pattern);
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

void TokenizerRegex::CodeDeleter::operator()(pcre2_real_code_8* code) const { pcre2_code_free(code); }

TokenizerRegex::TokenizerRegex(const std::string& pattern, const std::string& where)
    : pcre2_pattern_(rewrite_oniguruma(pattern, where)), where_(where) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pcre2_pattern_.data()), pcre2_pattern_.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    throw TokenizerError(where + ": regex " + pattern + " does not compile (" + pcre2_message(error) +
                         " at offset " + std::to_string(offset) + ")");
  }
  code_.reset(code);
  // JIT is a speed-up only; the interpreter gives the same matches.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

TokenizerRegex::~TokenizerRegex() = default;
TokenizerRegex::TokenizerRegex(TokenizerRegex&&) noexcept = default;
TokenizerRegex& TokenizerRegex::operator=(TokenizerRegex&&) noexcept = default;

std::vector<std::pair<std::size_t, std::size_t>> TokenizerRegex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  // Match data per call: the compiled pattern is shared read-only between threads.
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(code_.get(), nullptr), &pcre2_match_data_free);
  if (!data) throw std::bad_alloc();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  while (offset < text.size()) {
    int rc = pcre2_match(code_.get(), subject, text.size(), offset, PCRE2_NO_UTF_CHECK, data.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The JIT's small default stack ran out (very long runs); the interpreter uses the heap.
      rc = pcre2_match(code_.get(), subject, text.size(), offset, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, data.get(),
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw TokenizerError(where_ + ": regex match failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const std::size_t begin = ovector[0];
    const std::size_t end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      offset = end;
    } else {
      offset = begin + utf8_sequence_length(static_cast<unsigned char>(text[begin]));
    }
  }
  return matches;
}

}  // namespace fpokit::lm
