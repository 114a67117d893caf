#pragma once
// Splits a chat template into tokens exactly as jinja2's lexer does under HF's settings
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False): template text between tags
// arrives already trimmed by the whitespace-control rules, comments are dropped and {% raw %}
// blocks become text.
#include <string>
#include <string_view>
#include <vector>

namespace fpokit::lm::jinja {

enum class TokenType {
  kData,           // template text
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,   // text is the decoded value
  kInteger,  // text is the digits, '_' removed
  kFloat,
  kOperator,
  kEnd,
};

struct Token {
  TokenType type;
  std::string text;
  int line;
};

std::vector<Token> tokenize(std::string_view source, const std::string& source_name);

// Throws fpokit::ConfigError "<source_name>:<line>: <what>".
[[noreturn]] void throw_syntax_error(const std::string& source_name, int line, const std::string& what);

}  // namespace fpokit::lm::jinja
