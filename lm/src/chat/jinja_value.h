#pragma once
// The values a chat template computes with, modelled on the Python objects jinja2 hands a template:
// None, bool, int, float, str, list, tuple, dict (insertion-ordered), jinja2's Undefined, namespace()
// objects, callables (macros, globals, bound methods) and the `loop` variable. Printing and
// comparisons follow Python, because HF renders templates with jinja2 and fpokit must be
// byte-identical with it.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace fpokit::lm::jinja {

class Value;
using ValueList = std::vector<Value>;
// Python dicts keep insertion order, and templates print tool schemas through tojson in that
// order. Keys are strings: JSON objects cannot hold anything else, and template dict literals with
// other keys are rejected.
using ValueDict = std::vector<std::pair<std::string, Value>>;
using KeywordArgs = std::vector<std::pair<std::string, Value>>;

// A runtime error inside the template, without a location; the interpreter adds "<name>:<line>: ".
class TemplateRuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// raise_exception("...") called by the template itself.
class TemplateRaised : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Callable {
  std::string name;
  std::function<Value(const ValueList& args, const KeywordArgs& kwargs)> call;
};

// namespace(): the only mutable object a template has; `{% set ns.x = ... %}` must be seen through
// every reference to it, so it is shared rather than copied.
struct Namespace {
  ValueDict attributes;
};

// The `loop` variable of a for loop.
struct LoopState {
  std::shared_ptr<const ValueList> items;
  std::size_t index0 = 0;
};

struct Undefined {
  // What jinja2 says when the undefined value is used, e.g. "'foo' is undefined" or
  // "'dict object' has no attribute 'bar'".
  std::string hint;
};

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kNamespace,
    kCallable,
    kLoop
  };

  Value() : data_(Undefined{"value is undefined"}) {}
  static Value undefined(std::string hint) { return Value(Undefined{std::move(hint)}); }
  static Value none() {
    Value v;
    v.data_ = nullptr;
    return v;
  }
  Value(bool b) : data_(b) {}
  Value(int64_t i) : data_(i) {}
  Value(int i) : data_(static_cast<int64_t>(i)) {}
  Value(double d) : data_(d) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  static Value list(ValueList items) { return Value(List{std::make_shared<const ValueList>(std::move(items)), false}); }
  static Value tuple(ValueList items) { return Value(List{std::make_shared<const ValueList>(std::move(items)), true}); }
  static Value dict(ValueDict items) { return Value(std::make_shared<const ValueDict>(std::move(items))); }
  static Value namespace_object(ValueDict attributes);
  static Value callable(std::string name, decltype(Callable::call) call);
  static Value loop(LoopState state) { return Value(std::make_shared<const LoopState>(std::move(state))); }
  static Value from_json(const nlohmann::ordered_json& json);

  Kind kind() const;
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_number() const { return kind() == Kind::kInt || kind() == Kind::kFloat || kind() == Kind::kBool; }
  bool is_sequence() const { return kind() == Kind::kList || kind() == Kind::kTuple; }
  bool is_dict() const { return kind() == Kind::kDict; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;    // bool or int
  double as_double() const;  // bool, int or float
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const ValueList& as_list() const { return *std::get<List>(data_).items; }
  const ValueDict& as_dict() const { return *std::get<std::shared_ptr<const ValueDict>>(data_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(data_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(data_); }
  const LoopState& as_loop() const { return *std::get<std::shared_ptr<const LoopState>>(data_); }
  const std::string& undefined_hint() const { return std::get<Undefined>(data_).hint; }

  // Python's bool(x); jinja2's Undefined is false.
  bool truthy() const;
  // Python's str(x), which is what {{ x }} prints (an undefined value prints as "").
  std::string str() const;
  // Python's repr(x), used for the items of printed lists and dicts.
  std::string repr() const;
  // Python's type name ("str", "int", "dict", "NoneType", ...) for error messages.
  std::string type_name() const;
  // The elements a for loop or a filter sees: list/tuple items, dict keys, string characters.
  ValueList iterate() const;

  // A dict's value for `key`, or nullptr.
  const Value* find(std::string_view key) const;

 private:
  struct List {
    std::shared_ptr<const ValueList> items;
    bool is_tuple;
  };
  using Data = std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string, List,
                            std::shared_ptr<const ValueDict>, std::shared_ptr<Namespace>,
                            std::shared_ptr<const Callable>, std::shared_ptr<const LoopState>>;
  explicit Value(Data data) : data_(std::move(data)) {}
  Data data_;
};

// Python's ==, which jinja2 uses for ==, `in` and the equalto test (1 == 1.0 == True).
bool values_equal(const Value& a, const Value& b);
// Python's <, for comparisons and sorting; throws TemplateRuntimeError for unorderable types.
bool value_less(const Value& a, const Value& b);
// Python's repr() of a float: the shortest text that reads back to the same double.
std::string python_float_repr(double d);
// Python's repr() of a str: quoted, with the quote Python picks and its escapes.
std::string python_string_repr(std::string_view s);

// Python's str.strip()/lstrip()/rstrip(): without `chars`, strips Unicode whitespace.
std::string python_strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.upper()/lower() for ASCII and Latin-1 letters (the case mappings beyond Latin-1 are not built in).
std::string python_upper(std::string_view s);
std::string python_lower(std::string_view s);

// Strings are indexed, sliced and measured by Unicode code point, as Python does.
std::vector<std::string> utf8_code_points(std::string_view s);
std::size_t utf8_length(std::string_view s);

}  // namespace fpokit::lm::jinja
