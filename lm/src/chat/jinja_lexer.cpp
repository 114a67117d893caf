#include "jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm::jinja {

void throw_syntax_error(const std::string& source_name, int line, const std::string& what) {
  throw ConfigError(source_name + ":" + std::to_string(line) + ": " + what);
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string rstrip(std::string_view s) {
  std::size_t n = s.size();
  while (n > 0 && is_space(s[n - 1])) --n;
  return std::string(s.substr(0, n));
}

class Lexer {
 public:
  Lexer(std::string_view source, const std::string& name) : name_(name) {
    // jinja2 turns \r\n and \r into \n and drops one trailing newline (keep_trailing_newline=False).
    for (std::size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    for (std::size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') newlines_.push_back(i);
    }
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const std::size_t tag = find_tag_start(pos_);
      if (tag == std::string::npos) {
        emit(TokenType::kData, src_.substr(pos_), pos_);
        break;
      }
      lex_tag(tag);
    }
    out_.push_back({TokenType::kEnd, "", line_at(src_.size())});
    return std::move(out_);
  }

 private:
  int line_at(std::size_t pos) const {
    return 1 + static_cast<int>(std::lower_bound(newlines_.begin(), newlines_.end(), pos) - newlines_.begin());
  }

  [[noreturn]] void fail(std::size_t pos, const std::string& what) const {
    throw_syntax_error(name_, line_at(pos), what);
  }

  void emit(TokenType type, std::string text, std::size_t pos) {
    if (type == TokenType::kData && text.empty()) return;
    out_.push_back({type, std::move(text), line_at(pos)});
  }

  std::size_t find_tag_start(std::size_t from) const {
    for (std::size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // The whitespace control applied to the text before a tag: "{%-" strips all whitespace before it;
  // otherwise lstrip_blocks removes the spaces and tabs between the start of the line and a block or
  // comment tag (never a {{ tag), unless the tag says "{%+".
  std::string strip_before_tag(std::string_view text, char sign, bool is_variable) const {
    if (sign == '-') return rstrip(text);
    if (sign == '+' || is_variable) return std::string(text);
    const std::size_t newline = text.rfind('\n');
    const std::size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    if (line_start > 0 || line_starting_) {
      const std::string_view tail = text.substr(line_start);
      if (!tail.empty() && std::all_of(tail.begin(), tail.end(), is_space)) {
        return std::string(text.substr(0, line_start));
      }
    }
    return std::string(text);
  }

  std::size_t skip_spaces(std::size_t p) const {
    while (p < src_.size() && is_space(src_[p])) ++p;
    return p;
  }

  bool starts_with(std::size_t p, std::string_view s) const { return src_.compare(p, s.size(), s) == 0; }

  // Matches `\s*<word>\s*` at p, returning the position after it or npos.
  std::size_t match_word(std::size_t p, std::string_view word) const {
    p = skip_spaces(p);
    if (!starts_with(p, word) || (p + word.size() < src_.size() && is_name_char(src_[p + word.size()]))) {
      return std::string::npos;
    }
    return skip_spaces(p + word.size());
  }

  // The end of a block tag at p ("+%}", "-%}" plus following whitespace, or "%}" plus one newline
  // for trim_blocks), or npos.
  std::size_t match_block_end(std::size_t p, bool trim_newline = true) const {
    if (starts_with(p, "+%}")) return p + 3;
    if (starts_with(p, "-%}")) return skip_spaces(p + 3);
    if (starts_with(p, "%}")) return p + 2 + (trim_newline && p + 2 < src_.size() && src_[p + 2] == '\n');
    return std::string::npos;
  }

  void finish_tag(std::size_t end) {
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_tag(std::size_t tag) {
    const char kind = src_[tag + 1];
    const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
    const std::size_t inner = tag + 2 + (sign ? 1 : 0);
    const std::string_view text = std::string_view(src_).substr(pos_, tag - pos_);
    if (kind == '%') {
      const std::size_t after_raw = match_word(inner, "raw");
      if (after_raw != std::string::npos) {
        // "{% raw %}" has no trim_blocks newline, but "-%}" strips.
        const std::size_t end = starts_with(after_raw, "-%}")  ? skip_spaces(after_raw + 3)
                                : starts_with(after_raw, "%}") ? after_raw + 2
                                                               : std::string::npos;
        if (end != std::string::npos) {
          emit(TokenType::kData, strip_before_tag(text, sign, false), pos_);
          finish_tag(end);
          lex_raw_body(tag);
          return;
        }
      }
    }
    emit(TokenType::kData, strip_before_tag(text, sign, kind == '{'), pos_);
    if (kind == '#') {
      lex_comment(tag, inner);
    } else {
      lex_expression_tag(tag, inner, kind == '%');
    }
  }

  void lex_comment(std::size_t tag, std::size_t inner) {
    const std::size_t close = src_.find("#}", inner);
    if (close == std::string::npos) fail(tag, "missing end of comment tag '#}'");
    std::size_t end = close + 2;
    if (close > inner && src_[close - 1] == '-') {
      end = skip_spaces(end);
    } else if (!(close > inner && src_[close - 1] == '+') && end < src_.size() && src_[end] == '\n') {
      ++end;  // trim_blocks applies to comments too
    }
    finish_tag(end);
  }

  void lex_raw_body(std::size_t tag) {
    for (std::size_t p = src_.find("{%", pos_); p != std::string::npos; p = src_.find("{%", p + 1)) {
      const char sign = p + 2 < src_.size() && (src_[p + 2] == '-' || src_[p + 2] == '+') ? src_[p + 2] : 0;
      const std::size_t after = match_word(p + 2 + (sign ? 1 : 0), "endraw");
      if (after == std::string::npos) continue;
      const std::size_t end = match_block_end(after);
      if (end == std::string::npos) continue;
      emit(TokenType::kData, strip_before_tag(std::string_view(src_).substr(pos_, p - pos_), sign, false), pos_);
      finish_tag(end);
      return;
    }
    fail(tag, "{% raw %} is not closed by {% endraw %}");
  }

  void lex_expression_tag(std::size_t tag, std::size_t inner, bool is_block) {
    emit(is_block ? TokenType::kBlockBegin : TokenType::kVariableBegin, "", tag);
    std::vector<char> brackets;
    std::size_t p = inner;
    while (true) {
      if (p >= src_.size())
        fail(tag, is_block ? "missing '%}' to close this block tag" : "missing '}}' to close this tag");
      if (brackets.empty()) {
        std::size_t end = std::string::npos;
        if (is_block) {
          end = match_block_end(p);
        } else if (starts_with(p, "-}}")) {
          end = skip_spaces(p + 3);
        } else if (starts_with(p, "}}")) {
          end = p + 2;
        }
        if (end != std::string::npos) {
          emit(is_block ? TokenType::kBlockEnd : TokenType::kVariableEnd, "", p);
          finish_tag(end);
          return;
        }
      }
      const char c = src_[p];
      if (is_space(c)) {
        ++p;
      } else if (is_digit(c)) {
        p = lex_number(p);
      } else if (is_name_start(c)) {
        std::size_t e = p;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        emit(TokenType::kName, src_.substr(p, e - p), p);
        p = e;
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else {
        p = lex_operator(p, brackets);
      }
    }
  }

  // Digits with single '_' separators; returns the end or p when there are none.
  std::size_t scan_digits(std::size_t p, std::string& out) const {
    const std::size_t start = p;
    while (p < src_.size() && is_digit(src_[p])) {
      out += src_[p++];
      if (p + 1 < src_.size() && src_[p] == '_' && is_digit(src_[p + 1])) ++p;
    }
    return p == start ? start : p;
  }

  std::size_t lex_number(std::size_t p) {
    const std::size_t start = p;
    std::string text;
    p = scan_digits(p, text);
    // A float never follows a '.', so `messages.0.content` lexes as integers.
    const bool float_allowed = start == 0 || src_[start - 1] != '.';
    bool is_float = false;
    if (float_allowed && p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
      text += '.';
      p = scan_digits(p + 1, text);
      is_float = true;
    }
    if (float_allowed && p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      std::size_t q = p + 1;
      std::string exponent = "e";
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) exponent += src_[q++];
      const std::size_t digits_end = scan_digits(q, exponent);
      if (digits_end != q) {
        text += exponent;
        p = digits_end;
        is_float = true;
      }
    }
    emit(is_float ? TokenType::kFloat : TokenType::kInteger, text, start);
    return p;
  }

  std::size_t lex_string(std::size_t p) {
    const char quote = src_[p];
    std::string value;
    std::size_t i = p + 1;
    for (; i < src_.size() && src_[i] != quote; ++i) {
      if (src_[i] != '\\') {
        value += src_[i];
        continue;
      }
      if (++i >= src_.size()) break;
      i = decode_escape(i, value);
    }
    if (i >= src_.size()) fail(p, "unterminated string literal");
    emit(TokenType::kString, std::move(value), p);
    return i + 1;
  }

  // Python's unicode-escape decoding of the escape whose letter is at i (jinja2 decodes string
  // literals that way); unknown escapes keep their backslash. Returns the escape's last position.
  std::size_t decode_escape(std::size_t i, std::string& out) const {
    const char c = src_[i];
    switch (c) {
      case 'n': out += '\n'; return i;
      case 't': out += '\t'; return i;
      case 'r': out += '\r'; return i;
      case '\\': out += '\\'; return i;
      case '\'': out += '\''; return i;
      case '"': out += '"'; return i;
      case 'a': out += '\a'; return i;
      case 'b': out += '\b'; return i;
      case 'f': out += '\f'; return i;
      case 'v': out += '\v'; return i;
      case '\n': return i;  // a backslash-newline continues the line
      default: break;
    }
    const int hex_digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (hex_digits > 0) {
      const std::string digits = src_.substr(i + 1, static_cast<std::size_t>(hex_digits));
      if (digits.size() != static_cast<std::size_t>(hex_digits) ||
          !std::all_of(digits.begin(), digits.end(),
                       [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); })) {
        fail(i, std::string("truncated \\") + c + " escape in a string literal");
      }
      const unsigned long code_point = std::stoul(digits, nullptr, 16);
      if (code_point > 0x10FFFF) fail(i, "\\U escape beyond U+10FFFF in a string literal");  // as Python
      fpokit::lm::utf8_append(out, static_cast<char32_t>(code_point));
      return i + hex_digits;
    }
    if (c >= '0' && c <= '7') {
      uint32_t cp = 0;
      std::size_t j = i;
      for (; j < src_.size() && j < i + 3 && src_[j] >= '0' && src_[j] <= '7'; ++j) cp = cp * 8 + (src_[j] - '0');
      fpokit::lm::utf8_append(out, static_cast<char32_t>(cp));
      return j - 1;
    }
    if (c == 'N') fail(i, "\\N{...} escapes in string literals are not supported");
    out += '\\';
    out += c;
    return i;
  }

  std::size_t lex_operator(std::size_t p, std::vector<char>& brackets) {
    static constexpr std::string_view kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwoChar) {
      if (starts_with(p, op)) {
        emit(TokenType::kOperator, std::string(op), p);
        return p + 2;
      }
    }
    const char c = src_[p];
    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
      fail(p, std::string("unexpected character '") + c + "'");
    }
    if (c == '(' || c == '[' || c == '{') brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) fail(p, std::string("unexpected '") + c + "'");
      if (brackets.back() != c) fail(p, std::string("unexpected '") + c + "', expected '" + brackets.back() + "'");
      brackets.pop_back();
    }
    emit(TokenType::kOperator, std::string(1, c), p);
    return p + 1;
  }

  std::string src_;
  const std::string& name_;
  std::vector<std::size_t> newlines_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& source_name) {
  return Lexer(source, source_name).run();
}

}  // namespace fpokit::lm::jinja
