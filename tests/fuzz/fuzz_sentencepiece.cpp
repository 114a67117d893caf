// libFuzzer harness: a SentencePiece tokenizer.model (lm/tokenizer/sentencepiece_tokenizer.h, a
// protobuf parsed by libsentencepiece) through Tokenizer::from_directory, with the Llama-2
// fixture's tokenizer_config.json beside it. A model that loads encodes and decodes a fixed text.
#include <cstddef>
#include <cstdint>

#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fpokit::fuzz::quiet_logging();
  fpokit::fuzz::copy_fixture("tokenizers/llama2-sp/tokenizer_config.json", "sp/tokenizer_config.json");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fpokit::fuzz::write_file("sp/tokenizer.model", data, size);
  fpokit::fuzz::run_reader([&] {
    const auto tokenizer = fpokit::lm::Tokenizer::from_directory(fpokit::fuzz::scratch_dir() / "sp");
    const auto ids = tokenizer->encode(" Hello world! <s> caf\xc3\xa9 \xf0\x9f\x98\x80 12", true);
    (void)tokenizer->decode(ids, false);
    (void)tokenizer->decode(ids, true);
    for (int64_t id = 0; id < tokenizer->vocab_size() && id < 64; ++id) (void)tokenizer->id_to_token(id);
  });
  return 0;
}
