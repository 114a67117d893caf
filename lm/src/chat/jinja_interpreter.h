#pragma once
// Executes a parsed chat template against a JSON context with jinja2's semantics under HF's
// environment: the globals raise_exception, strftime_now, namespace, dict and range, Python
// scoping of {% set %} (a for loop's body is its own scope; namespace() objects are how templates
// carry state out of one), and jinja2's default Undefined.
#include <string>

#include <nlohmann/json.hpp>

#include "jinja_ast.h"

namespace fpokit::lm::jinja {

// Throws fpokit::InputError "<source_name>:<line>: ..." for runtime errors; for raise_exception
// the message is "<source_name>:<line>: the chat template raised: <its message>".
std::string render_template(const Body& body, const std::string& source_name, const nlohmann::ordered_json& context);

}  // namespace fpokit::lm::jinja
