#include "jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace fpokit::lm::jinja {

Value Value::namespace_object(ValueDict attributes) {
  return Value(std::make_shared<Namespace>(Namespace{std::move(attributes)}));
}

Value Value::callable(std::string name, decltype(Callable::call) call) {
  return Value(std::make_shared<const Callable>(Callable{std::move(name), std::move(call)}));
}

Value Value::from_json(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return Value(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) throw TemplateRuntimeError("integer " + json.dump() + " is too large");
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json(item));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      ValueDict items;
      items.reserve(json.size());
      for (const auto& [key, item] : json.items()) items.emplace_back(key, from_json(item));
      return dict(std::move(items));
    }
    default: throw TemplateRuntimeError("the context holds a JSON value of type " + std::string(json.type_name()));
  }
}

Value::Kind Value::kind() const {
  switch (data_.index()) {
    case 0: return Kind::kUndefined;
    case 1: return Kind::kNone;
    case 2: return Kind::kBool;
    case 3: return Kind::kInt;
    case 4: return Kind::kFloat;
    case 5: return Kind::kString;
    case 6: return std::get<List>(data_).is_tuple ? Kind::kTuple : Kind::kList;
    case 7: return Kind::kDict;
    case 8: return Kind::kNamespace;
    case 9: return Kind::kCallable;
    default: return Kind::kLoop;
  }
}

int64_t Value::as_int() const { return kind() == Kind::kBool ? (as_bool() ? 1 : 0) : std::get<int64_t>(data_); }

double Value::as_double() const {
  return kind() == Kind::kFloat ? std::get<double>(data_) : static_cast<double>(as_int());
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return as_bool();
    case Kind::kInt: return as_int() != 0;
    case Kind::kFloat: return as_double() != 0.0;
    case Kind::kString: return !as_string().empty();
    case Kind::kList:
    case Kind::kTuple: return !as_list().empty();
    case Kind::kDict: return !as_dict().empty();
    default: return true;
  }
}

std::string Value::str() const {
  switch (kind()) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return as_bool() ? "True" : "False";
    case Kind::kInt: return std::to_string(as_int());
    case Kind::kFloat: return python_float_repr(as_double());
    case Kind::kString: return as_string();
    case Kind::kList:
    case Kind::kTuple: {
      const bool tuple = kind() == Kind::kTuple;
      std::string out = tuple ? "(" : "[";
      for (std::size_t i = 0; i < as_list().size(); ++i) out += (i ? ", " : "") + as_list()[i].repr();
      if (tuple && as_list().size() == 1) out += ",";
      return out + (tuple ? ")" : "]");
    }
    case Kind::kDict: {
      std::string out = "{";
      for (std::size_t i = 0; i < as_dict().size(); ++i) {
        out += (i ? ", " : "") + python_string_repr(as_dict()[i].first) + ": " + as_dict()[i].second.repr();
      }
      return out + "}";
    }
    case Kind::kNamespace: return "<Namespace " + Value::dict(as_namespace().attributes).str() + ">";
    case Kind::kCallable: return "<function " + as_callable().name + ">";
    case Kind::kLoop:
      return "<LoopContext " + std::to_string(as_loop().index0 + 1) + "/" + std::to_string(as_loop().items->size()) +
             ">";
  }
  return "";
}

std::string Value::repr() const {
  if (is_string()) return python_string_repr(as_string());
  if (is_undefined()) return "Undefined";
  return str();
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kCallable: return "function";
    case Kind::kLoop: return "LoopContext";
  }
  return "object";
}

ValueList Value::iterate() const {
  switch (kind()) {
    case Kind::kUndefined: return {};  // jinja2's Undefined iterates as empty
    case Kind::kList:
    case Kind::kTuple: return as_list();
    case Kind::kDict: {
      ValueList keys;
      for (const auto& [key, value] : as_dict()) keys.emplace_back(key);
      return keys;
    }
    case Kind::kString: {
      ValueList chars;
      for (auto& c : utf8_code_points(as_string())) chars.emplace_back(std::move(c));
      return chars;
    }
    default: throw TemplateRuntimeError("'" + type_name() + "' object is not iterable");
  }
}

const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : as_dict()) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool values_equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind() != K::kFloat && b.kind() != K::kFloat) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined:
    case K::kNone: return true;
    case K::kString: return a.as_string() == b.as_string();
    case K::kList:
    case K::kTuple: {
      const auto &x = a.as_list(), &y = b.as_list();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!values_equal(x[i], y[i])) return false;
      }
      return true;
    }
    case K::kDict: {
      if (a.as_dict().size() != b.as_dict().size()) return false;
      for (const auto& [key, value] : a.as_dict()) {
        const Value* other = b.find(key);
        if (!other || !values_equal(value, *other)) return false;
      }
      return true;
    }
    case K::kNamespace: return &a.as_namespace() == &b.as_namespace();
    case K::kCallable: return &a.as_callable() == &b.as_callable();
    case K::kLoop: return &a.as_loop() == &b.as_loop();
    default: return false;
  }
}

bool value_less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() != Value::Kind::kFloat && b.kind() != Value::Kind::kFloat) return a.as_int() < b.as_int();
    return a.as_double() < b.as_double();
  }
  // UTF-8 byte order is code point order, which is how Python orders strings.
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.kind() == b.kind() && a.is_sequence()) {
    const auto &x = a.as_list(), &y = b.as_list();
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!values_equal(x[i], y[i])) return value_less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  throw TemplateRuntimeError("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() +
                             "'");
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then laid out as Python's repr does: positional for decimal
  // exponents in [-4, 16), scientific with a two-digit exponent otherwise.
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific).ptr;
  const std::string sci(buf, end);
  const std::size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::stoi(sci.substr(e + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    } else {
      const auto int_digits = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= int_digits) {
        out = digits + std::string(int_digits - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, int_digits) + "." + digits.substr(int_digits);
      }
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp;
  }
  return negative ? "-" + out : out;
}

namespace {

// Code points Python's str.isprintable() rejects beyond the ASCII controls: the C1 controls, the
// no-break space and the invisible formatting characters. (Python's full table is the Unicode
// categories Z* and C*; these are the ones that occur in chat data.)
bool python_non_printable(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
         (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff;
}

uint32_t decode_code_point(std::string_view c) {
  const auto b0 = static_cast<unsigned char>(c[0]);
  if (c.size() == 1) return b0;
  uint32_t cp = b0 & (0x3f >> (c.size() - 1));
  for (std::size_t i = 1; i < c.size(); ++i) cp = (cp << 6) | (static_cast<unsigned char>(c[i]) & 0x3f);
  return cp;
}

// Python's str.isspace() code points.
bool python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

// Latin-1 letters with a case partner 0x20 away (not the multiplication/division signs, not ß or ÿ,
// whose partners lie elsewhere).
std::string map_case(std::string_view s, bool upper) {
  std::string out;
  out.reserve(s.size());
  for (const auto& c : utf8_code_points(s)) {
    uint32_t cp = decode_code_point(c);
    const bool ascii_lower = cp >= 'a' && cp <= 'z', ascii_upper = cp >= 'A' && cp <= 'Z';
    const bool latin_lower = cp >= 0xe0 && cp <= 0xfe && cp != 0xf7;
    const bool latin_upper = cp >= 0xc0 && cp <= 0xde && cp != 0xd7;
    if (upper && (ascii_lower || latin_lower)) cp -= 0x20;
    else if (!upper && (ascii_upper || latin_upper)) cp += 0x20;
    else {
      out += c;
      continue;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

}  // namespace

std::string python_string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const auto& c : utf8_code_points(s)) {
    const uint32_t cp = decode_code_point(c);
    char buf[16];
    if (cp == '\\') out += "\\\\";
    else if (cp == static_cast<uint32_t>(quote)) out += std::string("\\") + quote;
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp == '\t') out += "\\t";
    else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0xff && python_non_printable(cp))) {
      std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      out += buf;
    } else if (python_non_printable(cp)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + quote;
}

std::vector<std::string> utf8_code_points(std::string_view s) {
  std::vector<std::string> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 1;
    if (i + n > s.size()) n = 1;
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

std::string python_strip(std::string_view s, const std::string* chars, bool left, bool right) {
  const auto points = utf8_code_points(s);
  const auto strippable = [&](const std::string& c) {
    return chars ? chars->find(c) != std::string::npos : python_space(decode_code_point(c));
  };
  std::size_t begin = 0, end = points.size();
  while (left && begin < end && strippable(points[begin])) ++begin;
  while (right && end > begin && strippable(points[end - 1])) --end;
  std::string out;
  for (std::size_t i = begin; i < end; ++i) out += points[i];
  return out;
}

std::string python_upper(std::string_view s) { return map_case(s, true); }
std::string python_lower(std::string_view s) { return map_case(s, false); }

}  // namespace fpokit::lm::jinja
