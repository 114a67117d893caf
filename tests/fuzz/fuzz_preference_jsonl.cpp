// libFuzzer harness: JSONL preference and KTO rows (fpo/data/preference_dataset.h). The first byte
// chooses the reader (even: pairs, odd: KTO rows) and the chat template (byte / 2 % 6: none,
// plain, chatml, llama3, gemma, zephyr); the rest is the file.
#include <cstddef>
#include <cstdint>

#include "fpokit/fpo/data/preference_dataset.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t mode = size > 0 ? data[0] : 0;
  const auto path = fpokit::fuzz::write_file("prefs.jsonl", size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0);
  fpokit::fpo::PreferenceDataOptions options;
  if (const int kind = mode / 2 % 6; kind > 0)
    options.chat_template.emplace(static_cast<fpokit::fpo::ChatTemplateKind>(kind - 1),
                                  fpokit::fpo::ChatTemplateTokens{"<s>", "</s>"});
  fpokit::fuzz::run_reader([&] {
    if (mode % 2 == 0) (void)fpokit::fpo::read_preference_data(path, options);
    else (void)fpokit::fpo::read_kto_data(path, options);
  });
  return 0;
}
