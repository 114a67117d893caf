#include "fpokit/lm/chat/jinja_template.h"

#include "jinja_ast.h"
#include "jinja_interpreter.h"
#include "jinja_lexer.h"
#include "jinja_parser.h"

namespace fpokit::lm {

struct JinjaTemplate::Parsed {
  std::string source_name;
  jinja::Body body;
};

JinjaTemplate JinjaTemplate::parse(std::string_view source, std::string source_name) {
  auto parsed = std::make_shared<Parsed>();
  parsed->source_name = std::move(source_name);
  parsed->body = jinja::parse_template(jinja::tokenize(source, parsed->source_name), parsed->source_name);
  return JinjaTemplate(std::move(parsed));
}

std::string JinjaTemplate::render(const nlohmann::ordered_json& context) const {
  return jinja::render_template(parsed_->body, parsed_->source_name, context);
}

std::string JinjaTemplate::render(const nlohmann::json& context) const {
  return render(nlohmann::ordered_json(context));
}

const std::string& JinjaTemplate::source_name() const { return parsed_->source_name; }

}  // namespace fpokit::lm
