#include "fpokit/fpo/losses/method.h"

#include <stdexcept>
#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::fpo {

const std::vector<MethodTraits>& all_methods() {
  // clang-format off
  static const std::vector<MethodTraits> table = {
      // method        name      reference  online  sae    unpaired  strength option
      {Method::Fpo,    "fpo",    true,      false,  true,  false, "--fpo-beta"},
      {Method::Dpo,    "dpo",    true,      false,  false, false, "--beta"},
      {Method::Ipo,    "ipo",    true,      false,  false, false, "--beta"},
      {Method::Hinge,  "hinge",  true,      false,  false, false, "--beta"},
      {Method::Robust, "robust", true,      false,  false, false, "--beta"},
      {Method::Simpo,  "simpo",  false,     false,  false, false, "--simpo-beta"},
      {Method::Tdpo1,  "tdpo1",  true,      true,   false, false, "--tdpo-beta"},
      {Method::Tdpo2,  "tdpo2",  true,      true,   false, false, "--tdpo-beta"},
      {Method::Kto,    "kto",    true,      false,  false, true,  "--kto-beta"},
      {Method::Orpo,   "orpo",   false,     false,  false, false, "--orpo-lambda"},
      {Method::Sft,    "sft",    false,     false,  false, false, ""},
  };
  // clang-format on
  return table;
}

const MethodTraits& method_traits(Method m) {
  for (const auto& t : all_methods())
    if (t.method == m) return t;
  throw std::logic_error("method_traits: a Method without a row in the table");
}

std::string_view method_name(Method m) { return method_traits(m).name; }

Method parse_method(std::string_view name) {
  for (const auto& t : all_methods())
    if (t.name == name) return t.method;
  std::string valid;
  for (const auto& t : all_methods()) valid += (valid.empty() ? "" : "|") + std::string(t.name);
  throw ConfigError("unknown preference-optimisation method \"" + std::string(name) + "\" (valid: " + valid + ")");
}

}  // namespace fpokit::fpo
