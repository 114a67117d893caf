// libFuzzer harness: a model's config.json (lm/checkpoint/config_reader.h through
// lm::load_model_config: architecture lookup and the architecture's parser).
#include <cstddef>
#include <cstdint>

#include "fpokit/lm/model/load_model.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fpokit::fuzz::quiet_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fpokit::fuzz::write_file("model/config.json", data, size);
  fpokit::fuzz::run_reader([&] {
    const auto config = fpokit::lm::load_model_config(fpokit::fuzz::scratch_dir() / "model");
    (void)fpokit::lm::resolve_dtype({}, config);
    fpokit::lm::check_context_fits(config, 16, "--context-size");
  });
  return 0;
}
