#include "jinja_interpreter.h"

#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <memory>

#include "fpokit/core/errors.h"
#include "jinja_filters.h"
#include "jinja_methods.h"

namespace fpokit::lm::jinja {
namespace {

// A variable scope: the template's top level, one for-loop iteration, or one macro call. Lookups
// fall back to the parent; assignments stay in the scope, as in jinja2.
struct Scope {
  std::map<std::string, Value, std::less<>> variables;
  std::shared_ptr<Scope> parent;

  const Value* find(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
      const auto it = s->variables.find(name);
      if (it != s->variables.end()) return &it->second;
    }
    return nullptr;
  }
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { kNormal, kBreak, kContinue };

[[noreturn]] void throw_undefined(const Value& v) { throw TemplateRuntimeError(v.undefined_hint()); }

// Python's indices of a slice over a sequence of length n.
std::vector<std::size_t> slice_indices(std::size_t n, const Value& start_v, const Value& stop_v, const Value& step_v) {
  const auto as_index = [](const Value& v, const char* what) {
    if (v.kind() != Value::Kind::kInt && v.kind() != Value::Kind::kBool) {
      throw TemplateRuntimeError(std::string("slice ") + what + " must be an integer or None, got '" + v.type_name() +
                                 "'");
    }
    return v.as_int();
  };
  const int64_t len = static_cast<int64_t>(n);
  const int64_t step = step_v.is_none() ? 1 : as_index(step_v, "step");
  if (step == 0) throw TemplateRuntimeError("slice step cannot be zero");
  const auto clamp = [&](const Value& v, int64_t fallback, const char* what) {
    if (v.is_none()) return fallback;
    int64_t i = as_index(v, what);
    if (i < 0) i += len;
    if (step > 0) return std::clamp<int64_t>(i, 0, len);
    return std::clamp<int64_t>(i, -1, len - 1);
  };
  const int64_t start = clamp(start_v, step > 0 ? 0 : len - 1, "start");
  const int64_t stop = clamp(stop_v, step > 0 ? len : -1, "stop");
  std::vector<std::size_t> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    out.push_back(static_cast<std::size_t>(i));
    if (__builtin_add_overflow(i, step, &i)) break;  // a step past the int64 range leaves the sequence
  }
  return out;
}

// Python's floor division. The one quotient that does not fit (INT64_MIN / -1) is an error, as
// every other integer overflow here: Python's ints would grow instead.
int64_t floor_div(int64_t a, int64_t b) {
  if (a == std::numeric_limits<int64_t>::min() && b == -1)
    throw TemplateRuntimeError("integer overflow in " + std::to_string(a) + " // -1");
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

class Interpreter {
 public:
  explicit Interpreter(const std::string& name) : name_(name) {}

  std::string render(const Body& body, const nlohmann::ordered_json& context) {
    try {
      if (!context.is_object()) throw TemplateRuntimeError("the template context must be a JSON object");
      auto globals = std::make_shared<Scope>();
      install_globals(*globals);
      auto top = std::make_shared<Scope>();
      top->parent = globals;
      for (const auto& [key, value] : context.items()) top->variables[key] = Value::from_json(value);
      std::string out;
      exec(body, out, top);
      return out;
    } catch (const TemplateRaised& raised) {
      throw InputError(location() + "the chat template raised: " + raised.what());
    } catch (const TemplateRuntimeError& error) {
      throw InputError(location() + error.what());
    }
  }

 private:
  std::string location() const { return name_ + ":" + std::to_string(line_) + ": "; }

  // ---- globals ----------------------------------------------------------------------------------

  static void install_globals(Scope& globals) {
    globals.variables["raise_exception"] =
        Value::callable("raise_exception", [](const ValueList& args, const KeywordArgs&) -> Value {
          throw TemplateRaised(args.empty() ? "" : args[0].str());
        });
    globals.variables["strftime_now"] = Value::callable("strftime_now", [](const ValueList& args, const KeywordArgs&) {
      if (args.size() != 1 || !args[0].is_string())
        throw TemplateRuntimeError("strftime_now() takes one format string");
      const std::time_t now = std::time(nullptr);
      std::tm local{};
      localtime_r(&now, &local);
      char buf[256];
      const std::size_t n = std::strftime(buf, sizeof buf, args[0].as_string().c_str(), &local);
      return Value(std::string(buf, n));
    });
    globals.variables["namespace"] = Value::callable("namespace", [](const ValueList& args, const KeywordArgs& kwargs) {
      ValueDict attributes;
      if (args.size() > 1) throw TemplateRuntimeError("namespace() takes at most one positional argument");
      if (!args.empty()) {
        if (!args[0].is_dict()) throw TemplateRuntimeError("namespace() takes a dict as its positional argument");
        attributes = args[0].as_dict();
      }
      for (const auto& [key, value] : kwargs) set_attribute(attributes, key, value);
      for (const auto& [key, value] : attributes) check_namespace_name(key);
      return Value::namespace_object(std::move(attributes));
    });
    globals.variables["dict"] = Value::callable("dict", [](const ValueList& args, const KeywordArgs& kwargs) {
      ValueDict items;
      if (!args.empty()) throw TemplateRuntimeError("dict() takes keyword arguments only");
      for (const auto& [key, value] : kwargs) set_attribute(items, key, value);
      return Value::dict(std::move(items));
    });
    globals.variables["range"] = Value::callable("range", [](const ValueList& args, const KeywordArgs& kwargs) {
      if (!kwargs.empty() || args.empty() || args.size() > 3)
        throw TemplateRuntimeError("range() takes 1 to 3 integers");
      for (const Value& a : args) {
        if (a.kind() != Value::Kind::kInt)
          throw TemplateRuntimeError("range() takes integers, got '" + a.type_name() + "'");
      }
      const int64_t start = args.size() > 1 ? args[0].as_int() : 0;
      const int64_t stop = args.size() > 1 ? args[1].as_int() : args[0].as_int();
      const int64_t step = args.size() > 2 ? args[2].as_int() : 1;
      if (step == 0) throw TemplateRuntimeError("range() arg 3 must not be zero");
      ValueList out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
        // jinja2's sandbox caps ranges at 100000 items.
        if (out.size() >= 100000) throw TemplateRuntimeError("range() is too big (at most 100000 items)");
        out.emplace_back(i);
        if (__builtin_add_overflow(i, step, &i)) break;  // past the last int64: Python's range ends there too
      }
      return Value::list(std::move(out));
    });
  }

  static void check_namespace_name(const std::string& name) {
    if (!name.empty() && name[0] == '_') {
      throw TemplateRuntimeError(
          "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + name +
          "'. Please rename the attribute.");
    }
  }

  static void set_attribute(ValueDict& items, const std::string& key, Value value) {
    for (auto& [k, v] : items) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    items.emplace_back(key, std::move(value));
  }

  // ---- statements -------------------------------------------------------------------------------

  Flow exec(const Body& body, std::string& out, const ScopePtr& scope) {
    for (const Node& node : body) {
      line_ = node.line;
      const Flow flow = std::visit([&](const auto& stmt) { return exec_statement(stmt, out, scope); }, node.stmt);
      check_text_size(out.size());
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec_statement(const TextNode& node, std::string& out, const ScopePtr&) {
    out += node.text;
    return Flow::kNormal;
  }

  Flow exec_statement(const OutputNode& node, std::string& out, const ScopePtr& scope) {
    out += eval(*node.expr, scope).str();
    return Flow::kNormal;
  }

  Flow exec_statement(const IfNode& node, std::string& out, const ScopePtr& scope) {
    for (const auto& [condition, body] : node.branches) {
      if (eval(*condition, scope).truthy()) return exec(body, out, scope);
    }
    return exec(node.else_body, out, scope);
  }

  void bind_targets(const std::vector<std::string>& targets, const Value& value, Scope& scope) {
    if (targets.size() == 1) {
      scope.variables[targets[0]] = value;
      return;
    }
    const ValueList items = value.iterate();
    if (items.size() != targets.size()) {
      throw TemplateRuntimeError(items.size() < targets.size()
                                     ? "not enough values to unpack (expected " + std::to_string(targets.size()) +
                                           ", got " + std::to_string(items.size()) + ")"
                                     : "too many values to unpack (expected " + std::to_string(targets.size()) + ")");
    }
    for (std::size_t i = 0; i < targets.size(); ++i) scope.variables[targets[i]] = items[i];
  }

  Flow exec_statement(const ForNode& node, std::string& out, const ScopePtr& scope) {
    const Value iterable = eval(*node.iterable, scope);
    ValueList items = iterable.iterate();
    if (node.filter) {
      // `for x in xs if cond`: the filter runs before the loop, so loop.length counts what passes.
      ValueList kept;
      for (Value& item : items) {
        auto probe = std::make_shared<Scope>();
        probe->parent = scope;
        bind_targets(node.targets, item, *probe);
        if (eval(*node.filter, probe).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    const auto shared_items = std::make_shared<const ValueList>(std::move(items));
    for (std::size_t i = 0; i < shared_items->size(); ++i) {
      auto iteration = std::make_shared<Scope>();
      iteration->parent = scope;
      bind_targets(node.targets, (*shared_items)[i], *iteration);
      iteration->variables["loop"] = Value::loop(LoopState{shared_items, i});
      if (exec(node.body, out, iteration) == Flow::kBreak) break;
    }
    if (shared_items->empty()) {
      auto otherwise = std::make_shared<Scope>();
      otherwise->parent = scope;
      return exec(node.else_body, out, otherwise);
    }
    return Flow::kNormal;
  }

  Flow exec_statement(const SetNode& node, std::string&, const ScopePtr& scope) {
    Value value;
    if (node.value) {
      value = eval(*node.value, scope);
    } else {
      std::string text;
      exec(node.body, text, scope);
      value = Value(std::move(text));
      for (const ExprPtr& filter : node.filters) value = apply_filter_expr(*filter, value, scope);
    }
    if (node.namespace_attribute.empty()) {
      bind_targets(node.targets, value, *scope);
      return Flow::kNormal;
    }
    const Value* target = scope->find(node.targets[0]);
    if (!target || target->kind() != Value::Kind::kNamespace) {
      throw TemplateRuntimeError("cannot assign attribute on non-namespace object '" + node.targets[0] + "'");
    }
    check_namespace_name(node.namespace_attribute);
    set_attribute(target->as_namespace().attributes, node.namespace_attribute, std::move(value));
    return Flow::kNormal;
  }

  Flow exec_statement(const MacroNode& node, std::string&, const ScopePtr& scope) {
    // The macro sees the scope it was defined in (as it is when called) plus its parameters.
    std::weak_ptr<Scope> defining_scope = scope;
    const MacroNode* macro = &node;
    scope->variables[node.name] =
        Value::callable(node.name, [this, macro, defining_scope](const ValueList& args, const KeywordArgs& kwargs) {
          ScopePtr defined_in = defining_scope.lock();
          if (!defined_in) {
            throw TemplateRuntimeError("macro '" + macro->name + "' is called after the block that defines it ended");
          }
          return call_macro(*macro, defined_in, args, kwargs);
        });
    return Flow::kNormal;
  }

  Value call_macro(const MacroNode& macro, const ScopePtr& defining_scope, const ValueList& args,
                   const KeywordArgs& kwargs) {
    if (call_depth_ >= kMaxCallDepth)
      throw TemplateRuntimeError("macro '" + macro.name + "' calls nested more than " + std::to_string(kMaxCallDepth) +
                                 " deep (a macro calling itself without end?)");
    struct DepthGuard {
      int& depth;
      explicit DepthGuard(int& d) : depth(++d) {}
      ~DepthGuard() { --depth; }
      DepthGuard(const DepthGuard&) = delete;
      DepthGuard& operator=(const DepthGuard&) = delete;
    } depth_guard(call_depth_);
    if (args.size() > macro.params.size()) {
      throw TemplateRuntimeError("macro '" + macro.name + "' takes not more than " +
                                 std::to_string(macro.params.size()) + " argument(s)");
    }
    auto call = std::make_shared<Scope>();
    call->parent = defining_scope;
    for (const auto& keyword : kwargs) {
      const bool known = std::any_of(macro.params.begin(), macro.params.end(),
                                     [&](const auto& p) { return p.first == keyword.first; });
      if (!known) {
        throw TemplateRuntimeError("macro '" + macro.name + "' takes no keyword argument '" + keyword.first + "'");
      }
    }
    const int caller_line = line_;
    for (std::size_t i = 0; i < macro.params.size(); ++i) {
      const std::string& param = macro.params[i].first;
      const ExprPtr& default_value = macro.params[i].second;
      const auto keyword =
          std::find_if(kwargs.begin(), kwargs.end(), [&](const auto& kw) { return kw.first == param; });
      if (i < args.size()) {
        if (keyword != kwargs.end())
          throw TemplateRuntimeError("macro '" + macro.name + "' got multiple values for argument '" + param + "'");
        call->variables[param] = args[i];
      } else if (keyword != kwargs.end()) {
        call->variables[param] = keyword->second;
      } else if (default_value) {
        call->variables[param] = eval(*default_value, call);
      } else {
        call->variables[param] = Value::undefined("parameter '" + param + "' was not provided");
      }
    }
    std::string out;
    exec(macro.body, out, call);
    line_ = caller_line;
    return Value(std::move(out));
  }

  Flow exec_statement(const LoopControlNode& node, std::string&, const ScopePtr&) {
    return node.is_break ? Flow::kBreak : Flow::kContinue;
  }

  Flow exec_statement(const GenerationNode& node, std::string& out, const ScopePtr& scope) {
    return exec(node.body, out, scope);
  }

  Flow exec_statement(const FilterBlockNode& node, std::string& out, const ScopePtr& scope) {
    std::string text;
    const Flow flow = exec(node.body, text, scope);
    out += apply_filter_expr(*node.filter, Value(std::move(text)), scope).str();
    return flow;
  }

  // ---- expressions ------------------------------------------------------------------------------

  Value apply_filter_expr(const Expr& filter, const Value& input, const ScopePtr& scope) {
    ValueList args;
    KeywordArgs kwargs;
    evaluate_arguments(filter, 1, scope, args, kwargs);
    line_ = filter.line;
    return apply_filter(filter.name, input, args, kwargs);
  }

  void evaluate_arguments(const Expr& e, std::size_t first, const ScopePtr& scope, ValueList& args,
                          KeywordArgs& kwargs) {
    for (std::size_t i = first; i < e.args.size(); ++i) args.push_back(eval(*e.args[i], scope));
    for (const auto& [key, value] : e.kwargs) kwargs.emplace_back(key, eval(*value, scope));
  }

  Value eval(const Expr& e, const ScopePtr& scope) {
    line_ = e.line;
    if (++steps_ > kMaxSteps)
      throw TemplateRuntimeError("the template takes more than " + std::to_string(kMaxSteps) +
                                 " evaluation steps (a runaway loop?)");
    using K = Expr::Kind;
    switch (e.kind) {
      case K::kLiteral: return e.value;
      case K::kName: {
        const Value* found = scope->find(e.name);
        return found ? *found : Value::undefined("'" + e.name + "' is undefined");
      }
      case K::kList:
      case K::kTuple: {
        ValueList items;
        for (const ExprPtr& item : e.args) items.push_back(eval(*item, scope));
        return e.kind == K::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case K::kDict: {
        ValueDict items;
        for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value key = eval(*e.args[i], scope);
          if (!key.is_string()) throw TemplateRuntimeError("dict keys must be strings, got '" + key.type_name() + "'");
          set_attribute(items, key.as_string(), eval(*e.args[i + 1], scope));
        }
        return Value::dict(std::move(items));
      }
      case K::kGetAttr: return get_attribute(eval(*e.args[0], scope), e.name);
      case K::kGetItem: return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope));
      case K::kSlice: return slice(e, scope);
      case K::kCall: {
        const Value callee = eval(*e.args[0], scope);
        ValueList args;
        KeywordArgs kwargs;
        evaluate_arguments(e, 1, scope, args, kwargs);
        line_ = e.line;
        if (callee.is_undefined()) throw_undefined(callee);
        if (callee.kind() != Value::Kind::kCallable) {
          throw TemplateRuntimeError("'" + callee.type_name() + "' object is not callable");
        }
        return callee.as_callable().call(args, kwargs);
      }
      case K::kFilter: return apply_filter_expr(e, eval(*e.args[0], scope), scope);
      case K::kTest: {
        const Value subject = eval(*e.args[0], scope);
        ValueList args;
        KeywordArgs kwargs;
        evaluate_arguments(e, 1, scope, args, kwargs);
        line_ = e.line;
        return Value(apply_test(e.name, subject, args, kwargs) != e.negated);
      }
      case K::kNegate:
      case K::kPlus: {
        const Value v = eval(*e.args[0], scope);
        if (v.is_undefined()) throw_undefined(v);
        if (!v.is_number()) {
          throw TemplateRuntimeError(std::string("bad operand type for unary ") + (e.kind == K::kNegate ? "-" : "+") +
                                     ": '" + v.type_name() + "'");
        }
        if (v.kind() == Value::Kind::kFloat) return Value(e.kind == K::kNegate ? -v.as_double() : v.as_double());
        if (e.kind == K::kNegate && v.as_int() == std::numeric_limits<int64_t>::min())
          throw TemplateRuntimeError("integer overflow in -(" + std::to_string(v.as_int()) + ")");
        return Value(e.kind == K::kNegate ? -v.as_int() : v.as_int());
      }
      case K::kNot: return Value(!eval(*e.args[0], scope).truthy());
      case K::kAnd: {
        Value left = eval(*e.args[0], scope);
        return left.truthy() ? eval(*e.args[1], scope) : left;
      }
      case K::kOr: {
        Value left = eval(*e.args[0], scope);
        return left.truthy() ? left : eval(*e.args[1], scope);
      }
      case K::kBinary: {
        const Value left = eval(*e.args[0], scope);
        const Value right = eval(*e.args[1], scope);
        line_ = e.line;
        return binary(e.name, left, right);
      }
      case K::kCompare: {
        Value left = eval(*e.args[0], scope);
        for (std::size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.args[i + 1], scope);
          line_ = e.line;
          if (!compare(e.ops[i], left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case K::kCondition: {
        if (eval(*e.args[1], scope).truthy()) return eval(*e.args[0], scope);
        if (e.args[2]) return eval(*e.args[2], scope);
        return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                                " evaluated to false and no else section was defined.");
      }
    }
    throw TemplateRuntimeError("unhandled expression");
  }

  static std::string object_name(const Value& v) { return v.is_none() ? "'None'" : "'" + v.type_name() + " object'"; }

  Value get_attribute(const Value& object, const std::string& name) {
    if (object.is_undefined()) throw_undefined(object);
    // As jinja2's getattr: a method of that name first, then the item.
    if (auto method = bind_method(object, name)) return *method;
    switch (object.kind()) {
      case Value::Kind::kDict:
        if (const Value* found = object.find(name)) return *found;
        break;
      case Value::Kind::kNamespace:
        for (const auto& [key, value] : object.as_namespace().attributes) {
          if (key == name) return value;
        }
        break;
      case Value::Kind::kLoop: {
        const LoopState& loop = object.as_loop();
        const auto n = static_cast<int64_t>(loop.items->size());
        const auto i = static_cast<int64_t>(loop.index0);
        if (name == "index") return Value(i + 1);
        if (name == "index0") return Value(i);
        if (name == "revindex") return Value(n - i);
        if (name == "revindex0") return Value(n - i - 1);
        if (name == "first") return Value(i == 0);
        if (name == "last") return Value(i == n - 1);
        if (name == "length") return Value(n);
        if (name == "depth") return Value(1);
        if (name == "depth0") return Value(0);
        if (name == "previtem")
          return i > 0 ? (*loop.items)[loop.index0 - 1] : Value::undefined("there is no previous item");
        if (name == "nextitem")
          return i + 1 < n ? (*loop.items)[loop.index0 + 1] : Value::undefined("there is no next item");
        break;
      }
      default: break;
    }
    return Value::undefined(object_name(object) + " has no attribute '" + name + "'");
  }

  Value get_item(const Value& object, const Value& key) {
    if (object.is_undefined()) throw_undefined(object);
    if (key.is_string() && !object.is_dict()) return get_attribute(object, key.as_string());
    switch (object.kind()) {
      case Value::Kind::kDict:
        if (key.is_string()) {
          if (const Value* found = object.find(key.as_string())) return *found;
          return Value::undefined("'dict object' has no attribute '" + key.as_string() + "'");
        }
        break;
      case Value::Kind::kList:
      case Value::Kind::kTuple:
      case Value::Kind::kString: {
        if (key.kind() != Value::Kind::kInt && key.kind() != Value::Kind::kBool) break;
        const bool is_string = object.is_string();
        const auto points = is_string ? utf8_code_points(object.as_string()) : std::vector<std::string>{};
        const auto n = static_cast<int64_t>(is_string ? points.size() : object.as_list().size());
        int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined(object_name(object) + " has no element " + key.str());
        return is_string ? Value(points[static_cast<std::size_t>(i)]) : object.as_list()[static_cast<std::size_t>(i)];
      }
      default: break;
    }
    return Value::undefined(object_name(object) + " has no element " + key.repr());
  }

  Value slice(const Expr& e, const ScopePtr& scope) {
    const Value object = eval(*e.args[0], scope);
    const auto part = [&](std::size_t i) { return e.args[i] ? eval(*e.args[i], scope) : Value::none(); };
    const Value start = part(1), stop = part(2), step = part(3);
    line_ = e.line;
    if (object.is_undefined()) throw_undefined(object);
    if (object.is_string()) {
      const auto points = utf8_code_points(object.as_string());
      std::string out;
      for (std::size_t i : slice_indices(points.size(), start, stop, step)) out += points[i];
      return Value(out);
    }
    if (!object.is_sequence()) throw TemplateRuntimeError("'" + object.type_name() + "' object is not subscriptable");
    ValueList out;
    for (std::size_t i : slice_indices(object.as_list().size(), start, stop, step)) out.push_back(object.as_list()[i]);
    return object.kind() == Value::Kind::kTuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }

  static Value binary(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
      std::string text = a.str() + b.str();
      check_text_size(text.size());
      return Value(std::move(text));
    }
    if (a.is_undefined()) throw_undefined(a);
    if (b.is_undefined()) throw_undefined(b);
    const bool ints = (a.kind() == Value::Kind::kInt || a.kind() == Value::Kind::kBool) &&
                      (b.kind() == Value::Kind::kInt || b.kind() == Value::Kind::kBool);
    if (a.is_number() && b.is_number()) {
      if (ints && (op == "+" || op == "-" || op == "*" || (op == "**" && b.as_int() >= 0)))
        return int_arithmetic(op, a.as_int(), b.as_int());
      if (op == "+") return Value(a.as_double() + b.as_double());
      if (op == "-") return Value(a.as_double() - b.as_double());
      if (op == "*") return Value(a.as_double() * b.as_double());
      if (op == "**") {
        if (a.as_double() == 0.0 && b.as_double() < 0) {
          throw TemplateRuntimeError("0.0 cannot be raised to a negative power");
        }
        return Value(std::pow(a.as_double(), b.as_double()));
      }
      if (b.as_double() == 0.0) {
        throw TemplateRuntimeError(op == "/" ? "division by zero" : "integer division or modulo by zero");
      }
      if (op == "/") return Value(a.as_double() / b.as_double());
      if (op == "//") {
        return ints ? Value(floor_div(a.as_int(), b.as_int())) : Value(std::floor(a.as_double() / b.as_double()));
      }
      if (op == "%") {
        if (ints) return Value(a.as_int() - floor_div(a.as_int(), b.as_int()) * b.as_int());
        // Python's float modulo takes the divisor's sign, zero included.
        const double r = std::fmod(a.as_double(), b.as_double());
        if (r == 0) return Value(std::copysign(0.0, b.as_double()));
        return Value(((r < 0) != (b.as_double() < 0)) ? r + b.as_double() : r);
      }
    }
    if (op == "+" && a.is_string() && b.is_string()) {
      check_text_size(a.as_string().size() + b.as_string().size());
      return Value(a.as_string() + b.as_string());
    }
    if (op == "+" && a.is_sequence() && a.kind() == b.kind()) {
      ValueList items = a.as_list();
      items.insert(items.end(), b.as_list().begin(), b.as_list().end());
      return a.kind() == Value::Kind::kTuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    const auto is_int = [](const Value& v) { return v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kBool; };
    if (op == "*" && (a.is_string() || a.is_sequence()) && is_int(b)) return repeat(a, b.as_int());
    if (op == "*" && (b.is_string() || b.is_sequence()) && is_int(a)) return repeat(b, a.as_int());
    if (op == "%" && a.is_string()) throw TemplateRuntimeError("printf-style '%' string formatting is not supported");
    if (op == "+" && a.is_string()) {
      throw TemplateRuntimeError("can only concatenate str (not \"" + b.type_name() + "\") to str");
    }
    if (op == "+" && a.is_sequence()) {
      throw TemplateRuntimeError("can only concatenate " + a.type_name() + " (not \"" + b.type_name() + "\") to " +
                                 a.type_name());
    }
    throw TemplateRuntimeError("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" +
                               b.type_name() + "'");
  }

  // Python integers do not overflow; fpokit's are 64-bit, so overflow is an error, never a wrong value.
  static Value int_arithmetic(const std::string& op, int64_t a, int64_t b) {
    int64_t result = 1;
    bool overflow = false;
    if (op == "+") overflow = __builtin_add_overflow(a, b, &result);
    else if (op == "-") overflow = __builtin_sub_overflow(a, b, &result);
    else if (op == "*") overflow = __builtin_mul_overflow(a, b, &result);
    else {
      for (int64_t i = 0; i < b && !overflow; ++i) overflow = __builtin_mul_overflow(result, a, &result);
    }
    if (overflow)
      throw TemplateRuntimeError("integer overflow in " + std::to_string(a) + " " + op + " " + std::to_string(b));
    return Value(result);
  }

  static Value repeat(const Value& v, int64_t times) {
    const std::size_t unit = v.is_string() ? v.as_string().size() : v.as_list().size() * sizeof(Value);
    if (times > 0 && unit > 0 && static_cast<uint64_t>(times) > kMaxTextBytes / unit)
      check_text_size(kMaxTextBytes + 1);
    if (v.is_string()) {
      std::string out;
      for (int64_t i = 0; i < times; ++i) out += v.as_string();
      return Value(out);
    }
    ValueList items;
    for (int64_t i = 0; i < times; ++i) items.insert(items.end(), v.as_list().begin(), v.as_list().end());
    return v.kind() == Value::Kind::kTuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }

  static bool compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return values_equal(a, b);
    if (op == "!=") return !values_equal(a, b);
    if (op == "in") return value_contains(b, a);
    if (op == "not in") return !value_contains(b, a);
    if (a.is_undefined()) throw_undefined(a);
    if (b.is_undefined()) throw_undefined(b);
    if (op == "<") return value_less(a, b);
    if (op == ">") return value_less(b, a);
    if (op == "<=") return !value_less(b, a);
    return !value_less(a, b);  // >=
  }

  // A chat template renders a few KB in a few thousand steps. These bounds turn a runaway one (a
  // macro calling itself, a loop doubling a string) into an error naming its line instead of a
  // stack overflow, an exhausted memory or a hang; jinja2 stops the first with Python's recursion
  // limit and caps range() (above), not the others.
  static constexpr int kMaxCallDepth = 128;
  static constexpr std::size_t kMaxTextBytes = std::size_t{64} << 20;
  static constexpr int64_t kMaxSteps = 10'000'000;

  static void check_text_size(std::size_t bytes) {
    if (bytes > kMaxTextBytes)
      throw TemplateRuntimeError("the template builds a text of more than " + std::to_string(kMaxTextBytes >> 20) +
                                 " MiB");
  }

  const std::string& name_;
  int line_ = 1;
  int call_depth_ = 0;
  int64_t steps_ = 0;
};

}  // namespace

std::string render_template(const Body& body, const std::string& source_name, const nlohmann::ordered_json& context) {
  return Interpreter(source_name).render(body, context);
}

}  // namespace fpokit::lm::jinja
