#include "jinja_filters.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>

namespace fpokit::lm::jinja {
namespace {

// A filter's or test's arguments after the input, by position or by keyword, as Python binds them.
class Arguments {
 public:
  Arguments(std::string_view what, const ValueList& args, const KeywordArgs& kwargs,
            const std::vector<std::string_view>& names)
      : what_(what), args_(args), kwargs_(kwargs), names_(names) {
    if (args.size() > names_.size()) {
      throw TemplateRuntimeError(std::string(what_) + " takes at most " + std::to_string(names_.size()) +
                                 " argument(s), got " + std::to_string(args.size()));
    }
    for (const auto& [key, value] : kwargs) {
      if (std::find(names_.begin(), names_.end(), key) == names_.end()) {
        throw TemplateRuntimeError(std::string(what_) + " got an unexpected keyword argument '" + key + "'");
      }
    }
  }

  Value get(std::string_view name, Value fallback) const {
    const auto position = static_cast<std::size_t>(std::find(names_.begin(), names_.end(), name) - names_.begin());
    if (position < args_.size()) return args_[position];
    for (const auto& [key, value] : kwargs_) {
      if (key == name) return value;
    }
    return fallback;
  }

 private:
  std::string_view what_;
  const ValueList& args_;
  const KeywordArgs& kwargs_;
  const std::vector<std::string_view>& names_;
};

std::string require_string(const Value& v, std::string_view what) {
  if (!v.is_string()) throw TemplateRuntimeError(std::string(what) + " expects a string, got '" + v.type_name() + "'");
  return v.as_string();
}

int64_t require_int(const Value& v, std::string_view what) {
  if (v.kind() != Value::Kind::kInt && v.kind() != Value::Kind::kBool) {
    throw TemplateRuntimeError(std::string(what) + " expects an integer, got '" + v.type_name() + "'");
  }
  return v.as_int();
}

// ---- tojson -------------------------------------------------------------------------------------

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (const auto& c : utf8_code_points(s)) {
    const auto b = static_cast<unsigned char>(c[0]);
    char buf[16];
    if (c == "\"") out += "\\\"";
    else if (c == "\\") out += "\\\\";
    else if (c == "\n") out += "\\n";
    else if (c == "\r") out += "\\r";
    else if (c == "\t") out += "\\t";
    else if (c == "\b") out += "\\b";
    else if (c == "\f") out += "\\f";
    else if (b < 0x20) {
      std::snprintf(buf, sizeof buf, "\\u%04x", b);
      out += buf;
    } else if (b >= 0x80 && ensure_ascii) {
      uint32_t cp = b & (0x3f >> (c.size() - 1));
      for (std::size_t i = 1; i < c.size(); ++i) cp = (cp << 6) | (static_cast<unsigned char>(c[i]) & 0x3f);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

struct JsonStyle {
  bool indented = false;
  std::string indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};

void append_json(std::string& out, const Value& v, const JsonStyle& style, int depth) {
  const auto newline = [&](int level) {
    if (!style.indented) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += style.indent;
  };
  switch (v.kind()) {
    case Value::Kind::kNone: out += "null"; return;
    case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::kInt: out += std::to_string(v.as_int()); return;
    case Value::Kind::kFloat: {
      const double d = v.as_double();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity") : python_float_repr(d);
      return;
    }
    case Value::Kind::kString: append_json_string(out, v.as_string(), style.ensure_ascii); return;
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      if (v.as_list().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t i = 0; i < v.as_list().size(); ++i) {
        if (i) out += style.item_separator;
        newline(depth + 1);
        append_json(out, v.as_list()[i], style, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::kDict: {
      if (v.as_dict().empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& item : v.as_dict()) items.push_back(&item);
      if (style.sort_keys) {
        std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      }
      out += '{';
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += style.item_separator;
        newline(depth + 1);
        append_json_string(out, items[i]->first, style.ensure_ascii);
        out += style.key_separator;
        append_json(out, items[i]->second, style, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    default: throw TemplateRuntimeError("Object of type " + v.type_name() + " is not JSON serializable");
  }
}

// ---- helpers shared by several filters ----------------------------------------------------------

std::size_t length_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return utf8_length(v.as_string());
    case Value::Kind::kList:
    case Value::Kind::kTuple: return v.as_list().size();
    case Value::Kind::kDict: return v.as_dict().size();
    default: throw TemplateRuntimeError("object of type '" + v.type_name() + "' has no len()");
  }
}

// jinja2's attribute getter for selectattr/map/sort/join: item[name], with dots for nesting.
Value attribute_of(const Value& item, const std::string& path) {
  Value current = item;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (current.is_dict()) {
      const Value* found = current.find(part);
      current = found ? *found : Value::undefined("'dict object' has no attribute '" + part + "'");
    } else if (current.is_undefined()) {
      throw TemplateRuntimeError(current.undefined_hint());
    } else {
      current = Value::undefined("'" + current.type_name() + " object' has no attribute '" + part + "'");
    }
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

std::string title_case(std::string_view s) {
  // jinja2 splits at runs of [-\s(\{\[<] and upper-cases the first character of every piece.
  std::string out;
  bool word_start = true;
  for (const auto& c : utf8_code_points(s)) {
    const bool separator = c.size() == 1 && (std::string_view("-({[< \t\n\r\f\v").find(c[0]) != std::string::npos);
    out += separator ? c : word_start ? python_upper(c) : python_lower(c);
    word_start = separator;
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& old, const std::string& with, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `with` around every character
    const auto points = utf8_code_points(s);
    int64_t done = 0;
    for (const auto& c : points) {
      if (count < 0 || done < count) out += with, ++done;
      out += c;
    }
    if (count < 0 || done < count) out += with;
    return out;
  }
  std::size_t pos = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    const std::size_t hit = s.find(old, pos);
    if (hit == std::string::npos) break;
    out += s.substr(pos, hit - pos) + with;
    pos = hit + old.size();
  }
  return out + s.substr(pos);
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::string line;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line += s[i];
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

Value filter_indent(const Value& input, const Arguments& a) {
  const Value width = a.get("width", Value(4));
  const std::string indentation =
      width.is_string()
          ? width.as_string()
          : std::string(static_cast<std::size_t>(std::max<int64_t>(0, require_int(width, "indent"))), ' ');
  const bool first = a.get("first", Value(false)).truthy();
  const bool blank = a.get("blank", Value(false)).truthy();
  if (input.is_undefined()) throw TemplateRuntimeError(input.undefined_hint());
  if (!input.is_string()) {
    throw TemplateRuntimeError("unsupported operand type(s) for +=: '" + input.type_name() + "' and 'str'");
  }
  const auto lines = split_lines(input.as_string() + "\n");  // jinja2 appends the newline on purpose
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "\n" + ((blank || !lines[i].empty()) ? indentation : "");
    out += lines[i];
  }
  return Value(first ? indentation + out : out);
}

Value to_int(const Value& input, const Value& fallback) {
  switch (input.kind()) {
    case Value::Kind::kUndefined: throw TemplateRuntimeError(input.undefined_hint());
    case Value::Kind::kInt:
    case Value::Kind::kBool: return Value(input.as_int());
    case Value::Kind::kFloat: return Value(static_cast<int64_t>(std::trunc(input.as_double())));
    case Value::Kind::kString: {
      std::string s = python_strip(input.as_string(), nullptr, true, true);
      s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
      try {
        std::size_t used = 0;
        const int64_t i = std::stoll(s, &used);
        if (used == s.size()) return Value(i);
        const double d = std::stod(s, &used);
        if (used == s.size()) return Value(static_cast<int64_t>(std::trunc(d)));
      } catch (const std::exception&) {
      }
      return fallback;
    }
    default: return fallback;
  }
}

Value to_float(const Value& input, const Value& fallback) {
  if (input.is_undefined()) throw TemplateRuntimeError(input.undefined_hint());
  if (input.is_number()) return Value(input.as_double());
  if (input.is_string()) {
    const std::string s = python_strip(input.as_string(), nullptr, true, true);
    try {
      std::size_t used = 0;
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value(d);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

// select/reject/selectattr/rejectattr: args are [attribute,] test name, test args...
Value filter_select(const Value& input, const ValueList& args, const KeywordArgs& kwargs, bool by_attribute,
                    bool keep) {
  if (!kwargs.empty()) throw TemplateRuntimeError("select filters take no keyword arguments");
  std::size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.empty()) throw TemplateRuntimeError("selectattr/rejectattr need an attribute name");
    attribute = require_string(args[next++], "selectattr/rejectattr");
  }
  std::string test;
  if (next < args.size()) test = require_string(args[next++], "the test name");
  if (!test.empty() && !is_known_test(test)) throw TemplateRuntimeError("unknown test '" + test + "'");
  const ValueList test_args(args.begin() + static_cast<long>(next), args.end());
  ValueList out;
  for (const Value& item : input.iterate()) {
    const Value subject = by_attribute ? attribute_of(item, attribute) : item;
    const bool passes = test.empty() ? subject.truthy() : apply_test(test, subject, test_args, {});
    if (passes == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value filter_map(const Value& input, const ValueList& args, const KeywordArgs& kwargs) {
  ValueList out;
  const Value* attribute = nullptr;
  const Value* fallback = nullptr;
  for (const auto& [key, value] : kwargs) {
    if (key == "attribute") attribute = &value;
    else if (key == "default") fallback = &value;
    else throw TemplateRuntimeError("map got an unexpected keyword argument '" + key + "'");
  }
  if (attribute) {
    const std::string path = attribute->str();
    for (const Value& item : input.iterate()) {
      Value v = attribute_of(item, path);
      out.push_back(v.is_undefined() && fallback ? *fallback : v);
    }
    return Value::list(std::move(out));
  }
  if (args.empty()) throw TemplateRuntimeError("map needs a filter name or attribute=");
  const std::string filter = require_string(args[0], "map");
  if (!is_known_filter(filter)) throw TemplateRuntimeError("unknown filter '" + filter + "'");
  const ValueList filter_args(args.begin() + 1, args.end());
  for (const Value& item : input.iterate()) out.push_back(apply_filter(filter, item, filter_args, {}));
  return Value::list(std::move(out));
}

Value filter_sort(const Value& input, const Arguments& a) {
  const bool reverse = a.get("reverse", Value(false)).truthy();
  const bool case_sensitive = a.get("case_sensitive", Value(false)).truthy();
  const Value attribute = a.get("attribute", Value::none());
  ValueList items = input.iterate();
  const auto key = [&](const Value& item) {
    Value k = attribute.is_none() ? item : attribute_of(item, attribute.str());
    return (!case_sensitive && k.is_string()) ? Value(python_lower(k.as_string())) : k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? value_less(key(y), key(x)) : value_less(key(x), key(y));
  });
  return Value::list(std::move(items));
}

Value filter_join(const Value& input, const Arguments& a) {
  const std::string separator = a.get("d", Value("")).str();
  const Value attribute = a.get("attribute", Value::none());
  std::string out;
  bool first = true;
  for (const Value& item : input.iterate()) {
    if (!first) out += separator;
    first = false;
    out += (attribute.is_none() ? item : attribute_of(item, attribute.str())).str();
  }
  return Value(out);
}

Value filter_reverse(const Value& input) {
  if (input.is_string()) {
    auto points = utf8_code_points(input.as_string());
    std::string out;
    for (auto it = points.rbegin(); it != points.rend(); ++it) out += *it;
    return Value(out);
  }
  ValueList items = input.iterate();
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value filter_escape(const Value& input) {
  std::string out;
  for (char c : input.str()) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value(out);
}

using FilterFn = std::function<Value(const Value&, const ValueList&, const KeywordArgs&)>;

// Filters with a fixed parameter list, bound by Arguments.
FilterFn with_params(std::string name, std::initializer_list<std::string_view> params,
                     std::function<Value(const Value&, const Arguments&)> body) {
  std::vector<std::string_view> names(params);
  return [name = std::move(name), names = std::move(names),
          body = std::move(body)](const Value& input, const ValueList& args, const KeywordArgs& kwargs) {
    return body(input, Arguments(name, args, kwargs, names));
  };
}

const std::map<std::string, FilterFn, std::less<>>& filters() {
  static const std::map<std::string, FilterFn, std::less<>> table = [] {
    std::map<std::string, FilterFn, std::less<>> t;
    t["trim"] = with_params("trim", {"chars"}, [](const Value& in, const Arguments& a) {
      const Value chars = a.get("chars", Value::none());
      const std::string chars_text = chars.is_none() ? "" : chars.str();
      return Value(python_strip(in.str(), chars.is_none() ? nullptr : &chars_text, true, true));
    });
    t["tojson"] = with_params(
        "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"}, [](const Value& in, const Arguments& a) {
          return Value(to_json(in, a.get("indent", Value::none()), a.get("separators", Value::none()),
                               a.get("sort_keys", Value(false)).truthy(),
                               a.get("ensure_ascii", Value(false)).truthy()));
        });
    const auto length = with_params("length", {}, [](const Value& in, const Arguments&) {
      return Value(static_cast<int64_t>(length_of(in)));
    });
    t["length"] = length;
    t["count"] = length;
    t["first"] = with_params("first", {}, [](const Value& in, const Arguments&) {
      const ValueList items = in.iterate();
      return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
    });
    t["last"] = with_params("last", {}, [](const Value& in, const Arguments&) {
      const ValueList items = in.iterate();
      return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
    });
    t["upper"] =
        with_params("upper", {}, [](const Value& in, const Arguments&) { return Value(python_upper(in.str())); });
    t["lower"] =
        with_params("lower", {}, [](const Value& in, const Arguments&) { return Value(python_lower(in.str())); });
    t["capitalize"] = with_params("capitalize", {}, [](const Value& in, const Arguments&) {
      const auto points = utf8_code_points(in.str());
      std::string out;
      for (std::size_t i = 0; i < points.size(); ++i) out += i == 0 ? python_upper(points[i]) : python_lower(points[i]);
      return Value(out);
    });
    t["title"] =
        with_params("title", {}, [](const Value& in, const Arguments&) { return Value(title_case(in.str())); });
    t["replace"] = with_params("replace", {"old", "new", "count"}, [](const Value& in, const Arguments& a) {
      const Value count = a.get("count", Value::none());
      return Value(replace_all(in.str(), a.get("old", Value("")).str(), a.get("new", Value("")).str(),
                               count.is_none() ? -1 : require_int(count, "replace")));
    });
    t["join"] = with_params("join", {"d", "attribute"}, filter_join);
    const auto default_filter =
        with_params("default", {"default_value", "boolean"}, [](const Value& in, const Arguments& a) {
          const bool use_default = in.is_undefined() || (a.get("boolean", Value(false)).truthy() && !in.truthy());
          return use_default ? a.get("default_value", Value("")) : in;
        });
    t["default"] = default_filter;
    t["d"] = default_filter;
    t["list"] = with_params("list", {}, [](const Value& in, const Arguments&) { return Value::list(in.iterate()); });
    t["string"] = with_params("string", {}, [](const Value& in, const Arguments&) { return Value(in.str()); });
    t["int"] = with_params("int", {"default"},
                           [](const Value& in, const Arguments& a) { return to_int(in, a.get("default", Value(0))); });
    t["float"] = with_params("float", {"default"}, [](const Value& in, const Arguments& a) {
      return to_float(in, a.get("default", Value(0.0)));
    });
    t["abs"] = with_params("abs", {}, [](const Value& in, const Arguments&) {
      if (in.kind() == Value::Kind::kFloat) return Value(std::fabs(in.as_double()));
      const int64_t i = require_int(in, "abs");
      if (i == std::numeric_limits<int64_t>::min()) throw TemplateRuntimeError("integer overflow in abs()");
      return Value(static_cast<int64_t>(std::llabs(i)));
    });
    t["selectattr"] = [](const Value& in, const ValueList& args, const KeywordArgs& kw) {
      return filter_select(in, args, kw, true, true);
    };
    t["rejectattr"] = [](const Value& in, const ValueList& args, const KeywordArgs& kw) {
      return filter_select(in, args, kw, true, false);
    };
    t["select"] = [](const Value& in, const ValueList& args, const KeywordArgs& kw) {
      return filter_select(in, args, kw, false, true);
    };
    t["reject"] = [](const Value& in, const ValueList& args, const KeywordArgs& kw) {
      return filter_select(in, args, kw, false, false);
    };
    t["map"] = filter_map;
    t["reverse"] = with_params("reverse", {}, [](const Value& in, const Arguments&) { return filter_reverse(in); });
    t["sort"] = with_params("sort", {"reverse", "case_sensitive", "attribute"}, filter_sort);
    t["items"] = with_params("items", {}, [](const Value& in, const Arguments&) {
      ValueList out;
      if (in.is_undefined()) return Value::list({});
      if (!in.is_dict())
        throw TemplateRuntimeError("can only get item pairs from a mapping, got '" + in.type_name() + "'");
      for (const auto& [key, value] : in.as_dict()) out.push_back(Value::tuple({Value(key), value}));
      return Value::list(std::move(out));
    });
    t["indent"] = with_params("indent", {"width", "first", "blank"}, filter_indent);
    t["safe"] = with_params("safe", {}, [](const Value& in, const Arguments&) { return in; });
    const auto escape = with_params("escape", {}, [](const Value& in, const Arguments&) { return filter_escape(in); });
    t["escape"] = escape;
    t["e"] = escape;
    return t;
  }();
  return table;
}

// ---- tests --------------------------------------------------------------------------------------

using TestFn = std::function<bool(const Value&, const ValueList&)>;

const Value& one_argument(const ValueList& args, std::string_view test) {
  if (args.size() != 1) throw TemplateRuntimeError("the '" + std::string(test) + "' test takes one argument");
  return args[0];
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      throw TemplateRuntimeError("'in <string>' requires string as left operand, not " + item.type_name());
    }
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict()) return item.is_string() && container.find(item.as_string()) != nullptr;
  if (container.is_undefined()) return false;
  if (!container.is_sequence()) {
    throw TemplateRuntimeError("argument of type '" + container.type_name() + "' is not iterable");
  }
  for (const Value& v : container.as_list()) {
    if (values_equal(v, item)) return true;
  }
  return false;
}

const std::map<std::string, TestFn, std::less<>>& tests() {
  using K = Value::Kind;
  static const std::map<std::string, TestFn, std::less<>> table = [] {
    std::map<std::string, TestFn, std::less<>> t;
    t["defined"] = [](const Value& v, const ValueList&) { return !v.is_undefined(); };
    t["undefined"] = [](const Value& v, const ValueList&) { return v.is_undefined(); };
    t["none"] = [](const Value& v, const ValueList&) { return v.is_none(); };
    t["boolean"] = [](const Value& v, const ValueList&) { return v.kind() == K::kBool; };
    t["true"] = [](const Value& v, const ValueList&) { return v.kind() == K::kBool && v.as_bool(); };
    t["false"] = [](const Value& v, const ValueList&) { return v.kind() == K::kBool && !v.as_bool(); };
    t["integer"] = [](const Value& v, const ValueList&) { return v.kind() == K::kInt; };
    t["float"] = [](const Value& v, const ValueList&) { return v.kind() == K::kFloat; };
    t["number"] = [](const Value& v, const ValueList&) { return v.is_number(); };
    t["string"] = [](const Value& v, const ValueList&) { return v.is_string(); };
    t["mapping"] = [](const Value& v, const ValueList&) { return v.is_dict(); };
    // jinja2's Undefined has __iter__ and __len__, so it passes these two.
    const TestFn iterable = [](const Value& v, const ValueList&) {
      return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
    };
    t["iterable"] = iterable;
    t["sequence"] = iterable;
    t["callable"] = [](const Value& v, const ValueList&) { return v.kind() == K::kCallable; };
    // Python's `value % 2 == 1` / `== 0`, which floats pass too.
    t["odd"] = [](const Value& v, const ValueList&) {
      if (v.kind() == K::kFloat) return std::fmod(std::fmod(v.as_double(), 2.0) + 2.0, 2.0) == 1.0;
      return require_int(v, "odd") % 2 != 0;
    };
    t["even"] = [](const Value& v, const ValueList&) {
      if (v.kind() == K::kFloat) return std::fmod(v.as_double(), 2.0) == 0.0;
      return require_int(v, "even") % 2 == 0;
    };
    t["divisibleby"] = [](const Value& v, const ValueList& args) {
      const int64_t d = require_int(one_argument(args, "divisibleby"), "divisibleby");
      if (d == 0) throw TemplateRuntimeError("integer division or modulo by zero");
      return require_int(v, "divisibleby") % d == 0;
    };
    const TestFn eq = [](const Value& v, const ValueList& args) { return values_equal(v, one_argument(args, "eq")); };
    const TestFn ne = [](const Value& v, const ValueList& args) { return !values_equal(v, one_argument(args, "ne")); };
    const TestFn lt = [](const Value& v, const ValueList& args) { return value_less(v, one_argument(args, "lt")); };
    const TestFn gt = [](const Value& v, const ValueList& args) { return value_less(one_argument(args, "gt"), v); };
    const TestFn le = [](const Value& v, const ValueList& args) { return !value_less(one_argument(args, "le"), v); };
    const TestFn ge = [](const Value& v, const ValueList& args) { return !value_less(v, one_argument(args, "ge")); };
    for (const char* name : {"eq", "equalto", "=="}) t[name] = eq;
    for (const char* name : {"ne", "!="}) t[name] = ne;
    for (const char* name : {"lt", "lessthan", "<"}) t[name] = lt;
    for (const char* name : {"gt", "greaterthan", ">"}) t[name] = gt;
    for (const char* name : {"le", "<="}) t[name] = le;
    for (const char* name : {"ge", ">="}) t[name] = ge;
    t["in"] = [](const Value& v, const ValueList& args) { return contains(one_argument(args, "in"), v); };
    t["sameas"] = [](const Value& v, const ValueList& args) {
      const Value& other = one_argument(args, "sameas");
      return v.kind() == other.kind() && (v.is_none() || v.is_undefined() || values_equal(v, other));
    };
    t["lower"] = [](const Value& v, const ValueList&) {
      const std::string s = v.str();
      return python_lower(s) == s && python_upper(s) != s;
    };
    t["upper"] = [](const Value& v, const ValueList&) {
      const std::string s = v.str();
      return python_upper(s) == s && python_lower(s) != s;
    };
    return t;
  }();
  return table;
}

}  // namespace

bool is_known_filter(std::string_view name) { return filters().count(name) > 0; }
bool is_known_test(std::string_view name) { return tests().count(name) > 0; }

Value apply_filter(std::string_view name, const Value& input, const ValueList& args, const KeywordArgs& kwargs) {
  const auto it = filters().find(name);
  if (it == filters().end()) throw TemplateRuntimeError("unknown filter '" + std::string(name) + "'");
  return it->second(input, args, kwargs);
}

bool apply_test(std::string_view name, const Value& input, const ValueList& args, const KeywordArgs& kwargs) {
  const auto it = tests().find(name);
  if (it == tests().end()) throw TemplateRuntimeError("unknown test '" + std::string(name) + "'");
  if (!kwargs.empty()) throw TemplateRuntimeError("the '" + std::string(name) + "' test takes no keyword arguments");
  return it->second(input, args);
}

bool value_contains(const Value& container, const Value& item) { return contains(container, item); }

std::string to_json(const Value& value, const Value& indent, const Value& separators, bool sort_keys,
                    bool ensure_ascii) {
  JsonStyle style;
  style.sort_keys = sort_keys;
  style.ensure_ascii = ensure_ascii;
  if (!indent.is_none()) {
    style.indented = true;
    style.item_separator = ",";
    style.indent =
        indent.is_string()
            ? indent.as_string()
            : std::string(static_cast<std::size_t>(std::max<int64_t>(0, require_int(indent, "tojson indent"))), ' ');
  }
  if (!separators.is_none()) {
    if (!separators.is_sequence() || separators.as_list().size() != 2) {
      throw TemplateRuntimeError("tojson separators must be an (item_separator, key_separator) pair");
    }
    style.item_separator = require_string(separators.as_list()[0], "tojson separators");
    style.key_separator = require_string(separators.as_list()[1], "tojson separators");
  }
  std::string out;
  append_json(out, value, style, 0);
  return out;
}

}  // namespace fpokit::lm::jinja
