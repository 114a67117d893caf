#include "config_file_check.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "fpokit/core/errors.h"

namespace fpokit::cli {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// The line without its comment (a # outside quotes); nullopt for an unterminated string.
std::optional<std::string> strip_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      return line.substr(0, i);
    }
  }
  if (quote) return std::nullopt;
  return line;
}

enum class ValueKind { String, Integer, Float, Boolean, Array, Invalid };

ValueKind scalar_kind(const std::string& v) {
  static const std::regex integer(R"([+-]?[0-9][0-9_]*)");
  static const std::regex number(R"([+-]?([0-9][0-9_]*)?(\.[0-9_]+)?([eE][+-]?[0-9]+)?|[+-]?(inf|nan))");
  if (v.size() >= 2 && ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\'')))
    return ValueKind::String;
  if (v == "true" || v == "false") return ValueKind::Boolean;
  if (std::regex_match(v, integer)) return ValueKind::Integer;
  if (!v.empty() && std::regex_match(v, number) && v.find_first_of("0123456789in") != std::string::npos)
    return ValueKind::Float;
  return ValueKind::Invalid;
}

// Splits a one-line array's inside at commas outside quotes.
std::vector<std::string> array_items(const std::string& inside) {
  std::vector<std::string> items;
  std::string current;
  char quote = 0;
  for (const char c : inside) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == ',') {
      items.push_back(trim(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (!trim(current).empty() || !items.empty()) items.push_back(trim(current));
  return items;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string dashed = word;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  std::string best;
  size_t best_distance = std::max<size_t>(3, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const size_t d = std::min(edit_distance(word, c), edit_distance(dashed, c));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// The subcommand a section names ("sae.train" -> sae -> train); nullptr if there is none.
const CLI::App* find_section(const CLI::App& root, const std::string& section) {
  const CLI::App* app = &root;
  size_t start = 0;
  while (start <= section.size()) {
    const auto dot = section.find('.', start);
    const auto name = section.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const CLI::App* next = nullptr;
    for (const auto* sub : app->get_subcommands([](const CLI::App*) { return true; }))
      if (sub->get_name() == name) next = sub;
    if (next == nullptr) return nullptr;
    app = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return app;
}

std::vector<std::string> section_names(const CLI::App& app, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const auto name = prefix.empty() ? sub->get_name() : prefix + "." + sub->get_name();
    out.push_back(name);
    const auto nested = section_names(*sub, name);
    out.insert(out.end(), nested.begin(), nested.end());
  }
  return out;
}

const CLI::Option* find_option(const CLI::App& app, const std::string& key) {
  for (const auto* op : app.get_options())
    for (const auto& name : op->get_lnames())
      if (name == key) return op;
  return nullptr;
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> out;
  for (const auto* op : app.get_options())
    if (op->get_configurable())
      for (const auto& name : op->get_lnames()) out.push_back(name);
  return out;
}

// What the option's type accepts, or "" when any scalar will do.
std::string expected_kind(const CLI::Option& op) {
  if (op.get_expected_min() == 0) return "true or false";
  const auto type = op.get_type_name();
  if (type.find("UINT") != std::string::npos || type.find("INT") != std::string::npos) return "a whole number";
  if (type.find("FLOAT") != std::string::npos) return "a number";
  return "";
}

bool fits(ValueKind kind, const std::string& expected) {
  if (expected.empty()) return kind != ValueKind::Invalid;
  if (expected == "true or false") return kind == ValueKind::Boolean;
  if (expected == "a whole number") return kind == ValueKind::Integer;
  return kind == ValueKind::Integer || kind == ValueKind::Float;
}

}  // namespace

std::string strip_config_comments(const std::string& text) {
  std::string out, line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    const auto stripped = strip_comment(line);
    out += (stripped ? trim(*stripped) : line) + "\n";  // an unclosed string: check_config_file says so
  }
  return out;
}

std::string config_file_argument(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "--config" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) return args[i].substr(9);
  }
  return "";
}

void check_config_file(const CLI::App& root, const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("--config " + file.string() + ": cannot read the file (does it exist?)");
  std::string section;
  const CLI::App* app = &root;
  std::map<std::string, std::pair<std::string, int>> seen;  // option -> (key used, line)
  std::string raw;
  for (int line_number = 1; std::getline(in, raw); ++line_number) {
    const std::string where = file.string() + ":" + std::to_string(line_number) + ": ";
    const auto stripped = strip_comment(raw);
    if (!stripped)
      throw InputError(where + "a string is not closed on its line (multi-line strings are not supported)");
    const auto line = trim(*stripped);
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.rfind("[[", 0) == 0 || line.back() != ']')
        throw InputError(where + "not a section header: '" + line + "' (write [command] or [command.subcommand])");
      section = trim(line.substr(1, line.size() - 2));
      app = find_section(root, section);
      if (app == nullptr)
        throw InputError(where + "no command [" + section + "]" + nearest(section, section_names(root, "")) +
                         "; sections name the command the options are for, e.g. [train] or [sae.train]");
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) throw InputError(where + "not a 'key = value' line: '" + line + "'");
    const auto key = trim(line.substr(0, eq));
    const auto value = trim(line.substr(eq + 1));
    static const std::regex bare_key(R"([A-Za-z0-9_-]+)");
    if (!std::regex_match(key, bare_key))
      throw InputError(where + "'" + key +
                       "' is not a key fpokit reads (keys are option names without dashes, e.g. max-steps)");
    const std::string label = section.empty() ? "the top level" : "[" + section + "]";
    const auto* op = find_option(*app, key);
    if (op == nullptr) {
      throw InputError(where + label + " has no option '" + key + "'" + nearest(key, option_names(*app)) +
                       (section.empty() ? "; put options under their command's section, e.g. [train]" : ""));
    }
    if (!op->get_configurable())
      throw InputError(where + label + " " + key + " cannot be set in a config file; give --" + key +
                       " on the command line");
    const auto [first, inserted] =
        seen.emplace(section + "." + op->get_single_name(), std::make_pair(key, line_number));
    if (!inserted)
      throw InputError(where + label + " sets " + key + " again (line " + std::to_string(first->second.second) +
                       " sets " + first->second.first + ", the same option" +
                       (first->second.first == key ? "" : ": keep " + op->get_single_name()) + ")");
    if (value.empty()) throw InputError(where + label + " " + key + " has no value");
    const auto expected = expected_kind(*op);
    std::vector<std::string> values{value};
    if (value.front() == '[') {
      if (value.back() != ']') throw InputError(where + label + " " + key + ": an array must close on its line");
      values = array_items(value.substr(1, value.size() - 2));
    }
    for (const auto& v : values) {
      const auto kind = scalar_kind(v);
      if (kind == ValueKind::String && v.find('#') != std::string::npos)
        throw InputError(where + label + " " + key +
                         ": a '#' inside a string is read as a comment by the config reader; give --" + key +
                         " on the command line");
      if (!fits(kind, expected))
        throw InputError(
            where + label + " " + key + " = " + v + ": " +
            (expected.empty() ? std::string("not a TOML value (quote strings: \"...\")") : "expected " + expected));
    }
  }
}

void require_finite_numbers(CLI::App& app) {
  for (auto* op : app.get_options()) {
    if (op->get_type_name().find("FLOAT") == std::string::npos) continue;
    op->check(CLI::Validator(
        [](std::string& input) -> std::string {
          char* end = nullptr;
          const double v = std::strtod(input.c_str(), &end);
          if (end != input.c_str() && !std::isfinite(v)) return "must be a finite number, got " + input;
          return {};
        },
        "", "finite"));
  }
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) require_finite_numbers(*sub);
}

}  // namespace fpokit::cli
