#pragma once
// A strict Jinja2 interpreter for Hugging Face chat templates. It renders byte for byte what
// transformers' `tokenizer.apply_chat_template(..., tokenize=False)` renders: jinja2 under HF's
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loopcontrols) with HF's
// tojson (json.dumps, ensure_ascii=False, key order kept), raise_exception, strftime_now,
// namespace and the {% generation %} block.
//
// Strict: a construct outside the supported subset ({% include %}, an unknown filter or test, ...)
// is a ConfigError at parse time naming the template line and the construct, never ignored.
//
// The context is the JSON object of variables the template sees. To match transformers, pass what
// apply_chat_template passes (tokenization_utils_base.apply_chat_template + render_jinja_template):
//   the tokenizer's special tokens that are set (bos_token, eos_token, unk_token, pad_token, ...
//   as strings), then the caller's extra kwargs (date_string, ...) overriding them, and
//   messages (with keys whose value is null removed), tools (null when none), documents (null when
//   none) and add_generation_prompt.
// Use nlohmann::ordered_json when key order matters (tool schemas printed with tojson keep the
// order given); the nlohmann::json overload sorts object keys, as that type stores them.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fpokit::lm {

class JinjaTemplate {
 public:
  // Throws fpokit::ConfigError "<source_name>:<line>: <what is wrong>" for a syntax error or an
  // unsupported construct.
  static JinjaTemplate parse(std::string_view source, std::string source_name);

  // Throws fpokit::InputError "<source_name>:<line>: the chat template raised: <message>" when the
  // template calls raise_exception(message), and "<source_name>:<line>: <what>" for other runtime
  // errors (an undefined value used, a type error, an unknown method).
  std::string render(const nlohmann::ordered_json& context) const;
  std::string render(const nlohmann::json& context) const;

  const std::string& source_name() const;

 private:
  struct Parsed;
  explicit JinjaTemplate(std::shared_ptr<const Parsed> parsed) : parsed_(std::move(parsed)) {}
  // Immutable once parsed, so copies share it.
  std::shared_ptr<const Parsed> parsed_;
};

}  // namespace fpokit::lm
