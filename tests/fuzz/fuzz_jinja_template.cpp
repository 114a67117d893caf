// libFuzzer harness: chat templates (lm/chat/jinja_template.h), untrusted text that comes with any
// model directory. The input is the template source; it is parsed and, when that succeeds,
// rendered with a small conversation (with and without the generation prompt). Unsupported
// constructs, syntax errors, raise_exception and runtime errors are InputErrors; anything else
// (a crash, a hang, another exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fpokit/lm/chat/jinja_template.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  fpokit::fuzz::run_reader([&] {
    const auto tmpl = fpokit::lm::JinjaTemplate::parse(source, "fuzz.jinja");
    nlohmann::ordered_json context = {{"bos_token", "<s>"},
                                      {"eos_token", "</s>"},
                                      {"messages",
                                       {{{"role", "system"}, {"content", "Be brief."}},
                                        {{"role", "user"}, {"content", " Hi {{ there }} é\n"}},
                                        {{"role", "assistant"}, {"content", "Hello."}}}},
                                      {"tools", nullptr},
                                      {"documents", nullptr},
                                      {"add_generation_prompt", false}};
    (void)tmpl.render(context);
    context["add_generation_prompt"] = true;
    (void)tmpl.render(context);
  });
  return 0;
}
