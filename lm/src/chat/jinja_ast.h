#pragma once
// The parsed form of a chat template: expressions and statements, each with the template line it
// came from (runtime errors name it).
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "jinja_value.h"

namespace fpokit::lm::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // value
    kName,       // name
    kList,       // args
    kTuple,      // args
    kDict,       // args: key0, value0, key1, value1, ...
    kGetAttr,    // args[0].name
    kGetItem,    // args[0][args[1]]
    kSlice,      // args[0][args[1]:args[2]:args[3]], absent parts are nullptr
    kCall,       // args[0](args[1:], kwargs)
    kFilter,     // args[0] | name(args[1:], kwargs)
    kTest,       // args[0] is [not] name(args[1:], kwargs); negated
    kNegate,     // -args[0]
    kPlus,       // +args[0]
    kNot,        // not args[0]
    kAnd,        // args[0] and args[1]
    kOr,         // args[0] or args[1]
    kBinary,     // args[0] name args[1], name in + - * / // % ** ~
    kCompare,    // args[0] ops[0] args[1] ops[1] args[2] ...: a chained comparison
    kCondition,  // args[0] if args[1] else args[2] (args[2] nullptr: undefined)
  };
  Kind kind;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using Body = std::vector<Node>;

struct TextNode {
  std::string text;
};
struct OutputNode {
  ExprPtr expr;
};
struct IfNode {
  std::vector<std::pair<ExprPtr, Body>> branches;  // if and elif
  Body else_body;
};
struct ForNode {
  std::vector<std::string> targets;  // one name, or several to unpack each item into
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`, or nullptr
  Body body;
  Body else_body;
};
struct SetNode {
  std::vector<std::string> targets;  // `set a = ...` or `set a, b = ...`
  std::string namespace_attribute;   // `set ns.attr = ...`: targets[0] is the namespace
  ExprPtr value;                     // nullptr for a block set
  Body body;                         // `{% set x %}body{% endset %}`
  std::vector<ExprPtr> filters;      // `{% set x | trim %}`: kFilter nodes whose args[0] is nullptr
};
struct MacroNode {
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default nullptr: required
  Body body;
};
struct LoopControlNode {
  bool is_break;
};
// {% generation %}...{% endgeneration %}: HF's marker for assistant tokens; renders its body.
struct GenerationNode {
  Body body;
};
// {% filter name(args) %}...{% endfilter %}
struct FilterBlockNode {
  ExprPtr filter;  // a kFilter node whose args[0] is nullptr
  Body body;
};

struct Node {
  int line = 0;
  std::variant<TextNode, OutputNode, IfNode, ForNode, SetNode, MacroNode, LoopControlNode, GenerationNode,
               FilterBlockNode>
      stmt;
};

}  // namespace fpokit::lm::jinja
