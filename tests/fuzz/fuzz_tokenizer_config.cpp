// libFuzzer harness: the tokenizer settings beside tokenizer.json (lm/tokenizer/tokenizer_config.h):
// tokenizer_config.json, and with a leading byte of 1 / 2 special_tokens_map.json /
// generation_config.json instead (the rest of the bytes are the file). A config that reads is
// then applied to the GPT-2 tokenizer fixture, which encodes and decodes a fixed text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/lm/tokenizer/tokenizer_config.h"
#include "fuzz_support.h"

namespace {
const char* const kFiles[] = {"tokenizer_config.json", "special_tokens_map.json", "generation_config.json"};
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fpokit::fuzz::quiet_logging();
  fpokit::fuzz::copy_fixture("tokenizers/gpt2/tokenizer.json", "tok/tokenizer.json");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A first byte of 0, 1 or 2 chooses the file; any other first byte is tokenizer_config.json's.
  size_t which = 0;
  if (size > 0 && data[0] < 3) {
    which = data[0];
    ++data;
    --size;
  }
  const auto dir = fpokit::fuzz::scratch_dir() / "tok";
  for (size_t i = 0; i < 3; ++i) std::filesystem::remove(dir / kFiles[i]);
  fpokit::fuzz::write_file(std::string("tok/") + kFiles[which], data, size);
  fpokit::fuzz::run_reader([&] {
    (void)fpokit::lm::TokenizerConfig::read(dir);
    const auto tokenizer = fpokit::lm::Tokenizer::from_directory(dir);
    const auto ids = tokenizer->encode("Hello <|endoftext|> world", true);
    (void)tokenizer->decode(ids, true);
  });
  return 0;
}
