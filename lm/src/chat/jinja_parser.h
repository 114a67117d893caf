#pragma once
// Builds the statement tree of a chat template from its tokens, with jinja2's grammar and operator
// precedence. Anything outside the supported subset (e.g. {% include %}, an unknown filter) is a
// ConfigError that names the template line and the construct.
#include <string>
#include <vector>

#include "jinja_ast.h"
#include "jinja_lexer.h"

namespace fpokit::lm::jinja {

Body parse_template(const std::vector<Token>& tokens, const std::string& source_name);

}  // namespace fpokit::lm::jinja
