#include "jinja_parser.h"

#include <algorithm>
#include <initializer_list>
#include <set>

#include "jinja_filters.h"

namespace fpokit::lm::jinja {
namespace {

// Tags jinja2 knows that fpokit does not implement; named in the error so the user knows why.
const std::set<std::string, std::less<>> kUnsupportedTags = {
    "include", "extends", "import", "from", "block", "call", "with", "autoescape", "trans", "do", "recursive"};

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const std::string& name) : tokens_(tokens), name_(name) {}

  Body parse() {
    Body body = parse_body({}, "", 0);
    return body;
  }

 private:
  // ---- token helpers ----------------------------------------------------------------------------

  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(std::size_t ahead = 1) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& advance() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool at_operator(std::string_view op) const { return current().type == TokenType::kOperator && current().text == op; }
  bool at_name(std::string_view name) const { return current().type == TokenType::kName && current().text == name; }

  [[noreturn]] void fail(const std::string& what) const { throw_syntax_error(name_, current().line, what); }

  static std::string describe(const Token& token) {
    switch (token.type) {
      case TokenType::kData: return "template text";
      case TokenType::kVariableBegin: return "'{{'";
      case TokenType::kVariableEnd: return "'}}'";
      case TokenType::kBlockBegin: return "'{%'";
      case TokenType::kBlockEnd: return "'%}'";
      case TokenType::kString: return "string literal";
      case TokenType::kEnd: return "end of template";
      default: return "'" + token.text + "'";
    }
  }

  void expect_operator(std::string_view op) {
    if (!at_operator(op)) fail("expected '" + std::string(op) + "', got " + describe(current()));
    advance();
  }
  void expect_block_end(std::string_view tag) {
    if (current().type != TokenType::kBlockEnd) {
      fail("expected '%}' to end the {% " + std::string(tag) + " %} tag, got " + describe(current()));
    }
    advance();
  }
  std::string expect_name(std::string_view what) {
    if (current().type != TokenType::kName) fail("expected " + std::string(what) + ", got " + describe(current()));
    return advance().text;
  }

  static ExprPtr make(Expr::Kind kind, int line, std::vector<ExprPtr> args = {}, std::string name = {}) {
    auto e = std::make_shared<Expr>();
    e->kind = kind;
    e->line = line;
    e->args = std::move(args);
    e->name = std::move(name);
    return e;
  }
  static ExprPtr literal(Value v, int line) {
    auto e = std::make_shared<Expr>();
    e->kind = Expr::Kind::kLiteral;
    e->line = line;
    e->value = std::move(v);
    return e;
  }

  // ---- statements -------------------------------------------------------------------------------

  // Parses nodes until one of `end_tags` opens a block tag (left as the current token, the tag name)
  // or, when `end_tags` is empty, until the end of the template.
  Body parse_body(std::initializer_list<std::string_view> end_tags, std::string_view open_tag, int open_line) {
    const NestingGuard guard(*this);
    Body body;
    while (true) {
      const Token& token = current();
      switch (token.type) {
        case TokenType::kData:
          body.push_back({token.line, TextNode{token.text}});
          advance();
          break;
        case TokenType::kVariableBegin: {
          advance();
          ExprPtr expr = parse_tuple(true);
          if (current().type != TokenType::kVariableEnd) fail("expected '}}', got " + describe(current()));
          advance();
          body.push_back({token.line, OutputNode{std::move(expr)}});
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& tag = peek();
          if (tag.type == TokenType::kName && std::find(end_tags.begin(), end_tags.end(), tag.text) != end_tags.end()) {
            advance();
            return body;
          }
          advance();
          body.push_back(parse_statement());
          break;
        }
        case TokenType::kEnd:
          if (end_tags.size() == 0) return body;
          {
            std::string expected;
            for (auto t : end_tags)
              expected += (expected.empty() ? "" : " or ") + std::string("{% ") + std::string(t) + " %}";
            throw_syntax_error(name_, open_line,
                               "the {% " + std::string(open_tag) + " %} block is never closed: the template ends " +
                                   "before " + expected);
          }
        default: fail("unexpected " + describe(token));
      }
    }
  }

  Node parse_statement() {
    const int line = current().line;
    if (current().type != TokenType::kName) fail("expected a tag name after '{%', got " + describe(current()));
    const std::string tag = advance().text;
    if (tag == "if") return {line, parse_if(line)};
    if (tag == "for") return {line, parse_for(line)};
    if (tag == "set") return {line, parse_set(line)};
    if (tag == "macro") return {line, parse_macro(line)};
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) throw_syntax_error(name_, line, "{% " + tag + " %} outside of a for loop");
      expect_block_end(tag);
      return {line, LoopControlNode{tag == "break"}};
    }
    if (tag == "generation") {
      expect_block_end(tag);
      Body body = parse_body({"endgeneration"}, tag, line);
      advance();
      expect_block_end("endgeneration");
      return {line, GenerationNode{std::move(body)}};
    }
    if (tag == "filter") {
      ExprPtr filter = parse_filter(nullptr);
      expect_block_end(tag);
      Body body = parse_body({"endfilter"}, tag, line);
      advance();
      expect_block_end("endfilter");
      return {line, FilterBlockNode{std::move(filter), std::move(body)}};
    }
    if (kUnsupportedTags.count(tag)) throw_syntax_error(name_, line, "{% " + tag + " %} is not supported");
    if (tag.rfind("end", 0) == 0 || tag == "else" || tag == "elif") {
      throw_syntax_error(name_, line, "unexpected {% " + tag + " %}: no open block expects it here");
    }
    throw_syntax_error(name_, line, "unknown tag {% " + tag + " %}");
  }

  IfNode parse_if(int line) {
    IfNode node;
    ExprPtr condition = parse_tuple(false);
    expect_block_end("if");
    while (true) {
      Body body = parse_body({"elif", "else", "endif"}, "if", line);
      node.branches.emplace_back(std::move(condition), std::move(body));
      const std::string tag = advance().text;
      if (tag == "elif") {
        condition = parse_tuple(false);
        expect_block_end("elif");
        continue;
      }
      if (tag == "else") {
        expect_block_end("else");
        node.else_body = parse_body({"endif"}, "if", line);
        advance();
      }
      expect_block_end("endif");
      return node;
    }
  }

  std::vector<std::string> parse_targets(std::string_view tag) {
    std::vector<std::string> targets;
    const bool parenthesized = at_operator("(");
    if (parenthesized) advance();
    targets.push_back(expect_name(std::string("a variable name in {% ") + std::string(tag) + " %}"));
    while (at_operator(",")) {  // `for key, value in ...`, `set a, b = ...`
      advance();
      targets.push_back(expect_name(std::string("a variable name in {% ") + std::string(tag) + " %}"));
    }
    if (parenthesized) expect_operator(")");
    return targets;
  }

  ForNode parse_for(int line) {
    ForNode node;
    node.targets = parse_targets("for");
    if (!at_name("in")) fail("expected 'in' in {% for %}, got " + describe(current()));
    advance();
    node.iterable = parse_tuple(false);
    if (at_name("if")) {
      advance();
      node.filter = parse_expression(true);
    }
    if (at_name("recursive")) fail("recursive for loops are not supported");
    expect_block_end("for");
    ++loop_depth_;
    node.body = parse_body({"else", "endfor"}, "for", line);
    --loop_depth_;
    if (advance().text == "else") {
      expect_block_end("else");
      node.else_body = parse_body({"endfor"}, "for", line);
      advance();
    }
    expect_block_end("endfor");
    return node;
  }

  SetNode parse_set(int line) {
    SetNode node;
    if (current().type == TokenType::kName && peek().type == TokenType::kOperator && peek().text == ".") {
      node.targets.push_back(advance().text);
      advance();
      node.namespace_attribute = expect_name("an attribute name after '.' in {% set %}");
    } else {
      node.targets = parse_targets("set");
    }
    if (at_operator("=")) {
      advance();
      node.value = parse_tuple(true);
      expect_block_end("set");
      return node;
    }
    if (!node.namespace_attribute.empty() || node.targets.size() != 1) {
      fail("expected '=' in {% set %}, got " + describe(current()));
    }
    while (at_operator("|")) {
      advance();
      node.filters.push_back(parse_filter(nullptr));
    }
    expect_block_end("set");
    node.body = parse_body({"endset"}, "set", line);
    advance();
    expect_block_end("endset");
    return node;
  }

  MacroNode parse_macro(int line) {
    MacroNode node;
    node.name = expect_name("a macro name");
    expect_operator("(");
    while (!at_operator(")")) {
      std::string param = expect_name("a parameter name");
      ExprPtr default_value;
      if (at_operator("=")) {
        advance();
        default_value = parse_expression(true);
      }
      node.params.emplace_back(std::move(param), std::move(default_value));
      if (!at_operator(",")) break;
      advance();
    }
    expect_operator(")");
    expect_block_end("macro");
    const int saved_depth = loop_depth_;
    loop_depth_ = 0;
    node.body = parse_body({"endmacro"}, "macro", line);
    loop_depth_ = saved_depth;
    advance();
    if (current().type == TokenType::kName && current().text == node.name) advance();
    expect_block_end("endmacro");
    return node;
  }

  // ---- expressions, from loosest to tightest binding --------------------------------------------

  bool at_tuple_end() const {
    const Token& t = current();
    return t.type == TokenType::kVariableEnd || t.type == TokenType::kBlockEnd || t.type == TokenType::kEnd ||
           (t.type == TokenType::kOperator && (t.text == ")" || t.text == "]" || t.text == "}" || t.text == "=")) ||
           (t.type == TokenType::kName && (t.text == "if" || t.text == "recursive"));
  }

  // An expression, or a tuple of them when separated by commas (`{{ a, b }}`, `set x = 1, 2`).
  ExprPtr parse_tuple(bool with_condition) {
    const int line = current().line;
    ExprPtr first = parse_expression(with_condition);
    if (!at_operator(",")) return first;
    std::vector<ExprPtr> items{first};
    while (at_operator(",")) {
      advance();
      if (at_tuple_end()) break;
      items.push_back(parse_expression(with_condition));
    }
    return make(Expr::Kind::kTuple, line, std::move(items));
  }

  ExprPtr parse_expression(bool with_condition) { return with_condition ? parse_condition() : parse_or(); }

  ExprPtr parse_condition() {
    ExprPtr expr = parse_or();
    while (at_name("if")) {
      const int line = advance().line;
      ExprPtr test = parse_or();
      ExprPtr otherwise;
      if (at_name("else")) {
        advance();
        otherwise = parse_condition();
      }
      expr = make(Expr::Kind::kCondition, line, {expr, test, otherwise});
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      const int line = advance().line;
      left = make(Expr::Kind::kOr, line, {left, parse_and()});
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      const int line = advance().line;
      left = make(Expr::Kind::kAnd, line, {left, parse_not()});
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      const int line = advance().line;
      return make(Expr::Kind::kNot, line, {parse_not()});
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = current().line;
    ExprPtr first = parse_math1();
    auto chain = std::make_shared<Expr>();
    chain->kind = Expr::Kind::kCompare;
    chain->line = line;
    chain->args.push_back(first);
    while (true) {
      const Token& t = current();
      if (t.type == TokenType::kOperator &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=")) {
        chain->ops.push_back(advance().text);
      } else if (at_name("in")) {
        advance();
        chain->ops.push_back("in");
      } else if (at_name("not") && peek().type == TokenType::kName && peek().text == "in") {
        advance();
        advance();
        chain->ops.push_back("not in");
      } else {
        break;
      }
      chain->args.push_back(parse_math1());
    }
    return chain->ops.empty() ? first : chain;
  }

  ExprPtr parse_binary_level(ExprPtr (Parser::*next)(), std::initializer_list<std::string_view> ops) {
    ExprPtr left = (this->*next)();
    while (current().type == TokenType::kOperator && std::find(ops.begin(), ops.end(), current().text) != ops.end()) {
      const Token& op = advance();
      left = make(Expr::Kind::kBinary, op.line, {left, (this->*next)()}, op.text);
    }
    return left;
  }
  ExprPtr parse_math1() { return parse_binary_level(&Parser::parse_concat, {"+", "-"}); }
  ExprPtr parse_concat() { return parse_binary_level(&Parser::parse_math2, {"~"}); }
  ExprPtr parse_math2() { return parse_binary_level(&Parser::parse_pow, {"*", "/", "//", "%"}); }
  ExprPtr parse_pow() { return parse_binary_level(&Parser::parse_unary_with_filters, {"**"}); }
  ExprPtr parse_unary_with_filters() { return parse_unary(true); }

  // As jinja2: `-x | f` is `(-x) | f`, and filters and tests bind tighter than binary operators.
  ExprPtr parse_unary(bool with_filters) {
    const NestingGuard guard(*this);
    const int line = current().line;
    ExprPtr node;
    if (at_operator("-")) {
      advance();
      node = make(Expr::Kind::kNegate, line, {parse_unary(false)});
    } else if (at_operator("+")) {
      advance();
      node = make(Expr::Kind::kPlus, line, {parse_unary(false)});
    } else {
      node = parse_primary();
    }
    node = parse_postfix(node);
    return with_filters ? parse_filters_and_tests(node) : node;
  }

  ExprPtr parse_primary() {
    const Token& t = current();
    switch (t.type) {
      case TokenType::kName: {
        advance();
        if (t.text == "true" || t.text == "True") return literal(Value(true), t.line);
        if (t.text == "false" || t.text == "False") return literal(Value(false), t.line);
        if (t.text == "none" || t.text == "None") return literal(Value::none(), t.line);
        return make(Expr::Kind::kName, t.line, {}, t.text);
      }
      case TokenType::kString: {
        std::string text;
        while (current().type == TokenType::kString) text += advance().text;  // "a" "b" is "ab"
        return literal(Value(std::move(text)), t.line);
      }
      case TokenType::kInteger: {
        advance();
        try {
          return literal(Value(static_cast<int64_t>(std::stoll(t.text))), t.line);
        } catch (const std::out_of_range&) {
          throw_syntax_error(name_, t.line, "integer literal " + t.text + " is out of range");
        }
      }
      case TokenType::kFloat: advance(); return literal(Value(std::stod(t.text)), t.line);
      case TokenType::kOperator:
        if (t.text == "(") return parse_parenthesized();
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        [[fallthrough]];
      default: fail("unexpected " + describe(t) + " in an expression");
    }
  }

  ExprPtr parse_parenthesized() {
    const int line = advance().line;
    if (at_operator(")")) {
      advance();
      return make(Expr::Kind::kTuple, line);
    }
    ExprPtr first = parse_expression(true);
    if (at_operator(")")) {
      advance();
      return first;
    }
    std::vector<ExprPtr> items{first};
    while (at_operator(",")) {
      advance();
      if (at_operator(")")) break;
      items.push_back(parse_expression(true));
    }
    expect_operator(")");
    return make(Expr::Kind::kTuple, line, std::move(items));
  }

  ExprPtr parse_list() {
    const int line = advance().line;
    std::vector<ExprPtr> items;
    while (!at_operator("]")) {
      items.push_back(parse_expression(true));
      if (!at_operator(",")) break;
      advance();
    }
    expect_operator("]");
    return make(Expr::Kind::kList, line, std::move(items));
  }

  ExprPtr parse_dict() {
    const int line = advance().line;
    std::vector<ExprPtr> items;
    while (!at_operator("}")) {
      items.push_back(parse_expression(true));
      expect_operator(":");
      items.push_back(parse_expression(true));
      if (!at_operator(",")) break;
      advance();
    }
    expect_operator("}");
    return make(Expr::Kind::kDict, line, std::move(items));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const int line = current().line;
      if (at_operator(".")) {
        advance();
        if (current().type == TokenType::kInteger) {  // `messages.0` is `messages[0]`
          node = make(Expr::Kind::kGetItem, line, {node, parse_primary()});
        } else {
          node = make(Expr::Kind::kGetAttr, line, {node}, expect_name("an attribute name after '.'"));
        }
      } else if (at_operator("[")) {
        advance();
        node = parse_subscript(node, line);
      } else if (at_operator("(")) {
        node = parse_call(node);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target, int line) {
    std::vector<ExprPtr> parts;
    bool is_slice = false;
    for (int part = 0; part < 3; ++part) {
      if (at_operator(":") || at_operator("]")) {
        parts.push_back(nullptr);
      } else {
        parts.push_back(parse_expression(true));
      }
      if (!at_operator(":") || part == 2) break;
      is_slice = true;
      advance();
    }
    expect_operator("]");
    if (!is_slice) return make(Expr::Kind::kGetItem, line, {target, parts[0]});
    parts.resize(3);
    return make(Expr::Kind::kSlice, line, {target, parts[0], parts[1], parts[2]});
  }

  // Fills args (after any already there) and kwargs from `( ... )`.
  void parse_call_arguments(Expr& call) {
    expect_operator("(");
    while (!at_operator(")")) {
      if (at_operator("*") || at_operator("**")) fail("*args and **kwargs in calls are not supported");
      if (current().type == TokenType::kName && peek().type == TokenType::kOperator && peek().text == "=") {
        std::string key = advance().text;
        advance();
        call.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!call.kwargs.empty()) fail("a positional argument follows a keyword argument");
        call.args.push_back(parse_expression(true));
      }
      if (!at_operator(",")) break;
      advance();
    }
    expect_operator(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = std::make_shared<Expr>();
    call->kind = Expr::Kind::kCall;
    call->line = current().line;
    call->args.push_back(std::move(callee));
    parse_call_arguments(*call);
    return call;
  }

  // `| name` or `| name(args)`, applied to `input` (nullptr for filter blocks and block sets).
  ExprPtr parse_filter(ExprPtr input) {
    auto filter = std::make_shared<Expr>();
    filter->kind = Expr::Kind::kFilter;
    filter->line = current().line;
    filter->name = expect_name("a filter name");
    if (!is_known_filter(filter->name)) fail("unknown filter '" + filter->name + "'");
    filter->args.push_back(std::move(input));
    if (at_operator("(")) parse_call_arguments(*filter);
    return filter;
  }

  ExprPtr parse_filters_and_tests(ExprPtr node) {
    while (true) {
      if (at_operator("|")) {
        advance();
        node = parse_filter(node);
      } else if (at_name("is")) {
        advance();
        auto test = std::make_shared<Expr>();
        test->kind = Expr::Kind::kTest;
        test->line = current().line;
        if (at_name("not")) {
          advance();
          test->negated = true;
        }
        test->name = expect_name("a test name after 'is'");
        if (!is_known_test(test->name)) fail("unknown test '" + test->name + "'");
        test->args.push_back(node);
        const Token& t = current();
        const bool starts_argument =
            t.type == TokenType::kString || t.type == TokenType::kInteger || t.type == TokenType::kFloat ||
            (t.type == TokenType::kName && t.text != "else" && t.text != "or" && t.text != "and") ||
            (t.type == TokenType::kOperator && (t.text == "[" || t.text == "{"));
        if (at_operator("(")) {
          parse_call_arguments(*test);
        } else if (starts_argument) {
          // `x is equalto 'user'`, `n is divisibleby 3`: one argument without parentheses.
          test->args.push_back(parse_postfix(parse_primary()));
        }
        node = test;
      } else if (at_operator("(")) {
        node = parse_call(node);
      } else {
        return node;
      }
    }
  }

  const std::vector<Token>& tokens_;
  const std::string& name_;
  std::size_t pos_ = 0;
  int loop_depth_ = 0;
  int nesting_ = 0;

  // Real templates nest a few levels; a recursive-descent parser given thousands (a damaged or
  // hostile template) would overflow the stack instead of reporting it.
  static constexpr int kMaxNesting = 256;
  struct NestingGuard {
    explicit NestingGuard(Parser& p) : parser(p) {
      if (++parser.nesting_ > kMaxNesting)
        parser.fail("blocks or expressions nested more than " + std::to_string(kMaxNesting) + " deep");
    }
    ~NestingGuard() { --parser.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
    Parser& parser;
  };
};

}  // namespace

Body parse_template(const std::vector<Token>& tokens, const std::string& source_name) {
  return Parser(tokens, source_name).parse();
}

}  // namespace fpokit::lm::jinja
