// libFuzzer harness: tokenizer.json (lm/tokenizer: the byte-level BPE model, pre-tokenizers,
// normalizers, added tokens, post-processor) through Tokenizer::from_directory. A tokenizer that
// loads encodes and decodes a fixed text, so that what the loader accepted is also used.
#include <cstddef>
#include <cstdint>

#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fpokit::fuzz::quiet_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fpokit::fuzz::write_file("tok/tokenizer.json", data, size);
  fpokit::fuzz::run_reader([&] {
    const auto tokenizer = fpokit::lm::Tokenizer::from_directory(fpokit::fuzz::scratch_dir() / "tok");
    const auto ids = tokenizer->encode("Hello world!  <|endoftext|> caf\xc3\xa9 \xe2\x96\x81x\n\t12345", true);
    (void)tokenizer->decode(ids, false);
    (void)tokenizer->decode(ids, true);
    for (int64_t id = 0; id < tokenizer->vocab_size() && id < 64; ++id) {
      (void)tokenizer->id_to_token(id);
      (void)tokenizer->is_special(id);
    }
  });
  return 0;
}
