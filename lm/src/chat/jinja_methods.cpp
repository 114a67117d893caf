#include "jinja_methods.h"

#include <algorithm>
#include <cctype>

namespace fpokit::lm::jinja {
namespace {

void check_arity(std::string_view method, const ValueList& args, const KeywordArgs& kwargs, std::size_t min_args,
                 std::size_t max_args) {
  if (!kwargs.empty()) throw TemplateRuntimeError(std::string(method) + "() takes no keyword arguments");
  if (args.size() < min_args || args.size() > max_args) {
    throw TemplateRuntimeError(std::string(method) + "() takes " +
                               (min_args == max_args ? std::to_string(min_args)
                                                     : std::to_string(min_args) + " to " + std::to_string(max_args)) +
                               " argument(s), got " + std::to_string(args.size()));
  }
}

const std::string& string_argument(std::string_view method, const Value& v) {
  if (!v.is_string()) {
    throw TemplateRuntimeError(std::string(method) + "() argument must be str, not " + v.type_name());
  }
  return v.as_string();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// str.split(): on runs of whitespace without a separator, else on every separator.
Value split(const std::string& s, const ValueList& args) {
  const int64_t max_split = args.size() > 1 ? args[1].as_int() : -1;
  ValueList parts;
  if (args.empty() || args[0].is_none()) {
    std::size_t i = 0;
    while (true) {
      while (i < s.size() && is_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
        std::size_t end = s.size();
        while (end > i && is_space(s[end - 1])) --end;
        parts.emplace_back(s.substr(i, end - i));
        break;
      }
      std::size_t j = i;
      while (j < s.size() && !is_space(s[j])) ++j;
      parts.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return Value::list(std::move(parts));
  }
  const std::string& separator = string_argument("split", args[0]);
  if (separator.empty()) throw TemplateRuntimeError("empty separator");
  std::size_t start = 0;
  while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
    const std::size_t hit = s.find(separator, start);
    if (hit == std::string::npos) break;
    parts.emplace_back(s.substr(start, hit - start));
    start = hit + separator.size();
  }
  parts.emplace_back(s.substr(start));
  return Value::list(std::move(parts));
}

// str.startswith / str.endswith with a string or a tuple of strings.
bool affix_matches(const std::string& s, const Value& affixes, bool prefix) {
  const auto matches = [&](const Value& v) {
    const std::string& a = string_argument(prefix ? "startswith" : "endswith", v);
    return a.size() <= s.size() &&
           (prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0);
  };
  if (affixes.is_sequence()) return std::any_of(affixes.as_list().begin(), affixes.as_list().end(), matches);
  return matches(affixes);
}

// Python's str.title(): a letter is upper-cased after a non-letter and lower-cased after a letter.
std::string python_title(const std::string& s) {
  std::string out;
  bool previous_is_letter = false;
  for (const auto& c : utf8_code_points(s)) {
    const bool letter = python_upper(c) != python_lower(c);
    out += letter ? (previous_is_letter ? python_lower(c) : python_upper(c)) : c;
    previous_is_letter = letter;
  }
  return out;
}

std::optional<Value> string_method(const Value& object, std::string_view name) {
  const std::string s = object.as_string();
  using Fn = decltype(Callable::call);
  Fn fn;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip", right = name != "lstrip";
    fn = [s, left, right, name = std::string(name)](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity(name, args, kwargs, 0, 1);
      if (args.empty() || args[0].is_none()) return Value(python_strip(s, nullptr, left, right));
      return Value(python_strip(s, &string_argument(name, args[0]), left, right));
    };
  } else if (name == "split") {
    fn = [s](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity("split", args, kwargs, 0, 2);
      return split(s, args);
    };
  } else if (name == "startswith" || name == "endswith") {
    const bool prefix = name == "startswith";
    fn = [s, prefix](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity(prefix ? "startswith" : "endswith", args, kwargs, 1, 1);
      return Value(affix_matches(s, args[0], prefix));
    };
  } else if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    fn = [s, name = std::string(name)](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity(name, args, kwargs, 0, 0);
      if (name == "upper") return Value(python_upper(s));
      if (name == "lower") return Value(python_lower(s));
      if (name == "title") return Value(python_title(s));
      const auto points = utf8_code_points(s);
      std::string out;
      for (std::size_t i = 0; i < points.size(); ++i) out += i == 0 ? python_upper(points[i]) : python_lower(points[i]);
      return Value(out);
    };
  } else if (name == "replace") {
    fn = [s](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity("replace", args, kwargs, 2, 3);
      const std::string& old = string_argument("replace", args[0]);
      const std::string& with = string_argument("replace", args[1]);
      int64_t count = args.size() > 2 ? args[2].as_int() : -1;
      if (old.empty()) throw TemplateRuntimeError("str.replace() with an empty pattern is not supported");
      std::string out;
      std::size_t pos = 0;
      for (; count != 0; --count) {
        const std::size_t hit = s.find(old, pos);
        if (hit == std::string::npos) break;
        out += s.substr(pos, hit - pos) + with;
        pos = hit + old.size();
      }
      return Value(out + s.substr(pos));
    };
  } else if (name == "join") {
    fn = [s](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity("join", args, kwargs, 1, 1);
      std::string out;
      bool first = true;
      for (const Value& item : args[0].iterate()) {
        out += (first ? "" : s) + string_argument("join", item);
        first = false;
      }
      return Value(out);
    };
  } else if (name == "find" || name == "count") {
    const bool find = name == "find";
    fn = [s, find](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity(find ? "find" : "count", args, kwargs, 1, 1);
      const std::string& needle = string_argument(find ? "find" : "count", args[0]);
      if (find) {
        const std::size_t hit = s.find(needle);
        return Value(hit == std::string::npos ? int64_t{-1} : static_cast<int64_t>(utf8_length(s.substr(0, hit))));
      }
      if (needle.empty()) return Value(static_cast<int64_t>(utf8_length(s) + 1));
      int64_t n = 0;
      for (std::size_t pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + needle.size())) ++n;
      return Value(n);
    };
  } else if (name == "format") {
    throw TemplateRuntimeError("str.format() is not supported");
  } else {
    return std::nullopt;
  }
  return Value::callable("str." + std::string(name), std::move(fn));
}

std::optional<Value> dict_method(const Value& object, std::string_view name) {
  const Value dict = object;
  if (name == "get") {
    return Value::callable("dict.get", [dict](const ValueList& args, const KeywordArgs& kwargs) {
      check_arity("get", args, kwargs, 1, 2);
      const Value* found = args[0].is_string() ? dict.find(args[0].as_string()) : nullptr;
      return found ? *found : args.size() > 1 ? args[1] : Value::none();
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    return Value::callable("dict." + std::string(name), [dict, name = std::string(name)](const ValueList& args,
                                                                                         const KeywordArgs& kwargs) {
      check_arity(name, args, kwargs, 0, 0);
      ValueList out;
      for (const auto& [key, value] : dict.as_dict()) {
        out.push_back(name == "items" ? Value::tuple({Value(key), value}) : name == "keys" ? Value(key) : value);
      }
      return Value::list(std::move(out));
    });
  }
  return std::nullopt;
}

}  // namespace

std::optional<Value> bind_method(const Value& object, std::string_view name) {
  switch (object.kind()) {
    case Value::Kind::kString: return string_method(object, name);
    case Value::Kind::kDict: return dict_method(object, name);
    case Value::Kind::kLoop:
      if (name != "cycle") return std::nullopt;
      return Value::callable("loop.cycle",
                             [index0 = object.as_loop().index0](const ValueList& args, const KeywordArgs& kwargs) {
                               if (!kwargs.empty())
                                 throw TemplateRuntimeError("loop.cycle() takes no keyword arguments");
                               if (args.empty()) throw TemplateRuntimeError("no items for cycling given");
                               return args[index0 % args.size()];
                             });
    default: return std::nullopt;
  }
}

}  // namespace fpokit::lm::jinja
