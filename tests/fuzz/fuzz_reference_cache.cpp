// libFuzzer harness: an HDF5 reference-log-prob cache (fpo/training/reference_cache.h,
// load_reference_cache). The seeds are written by save_reference_cache with the fingerprint
// below, so that mutations get past the fingerprint check to the datasets.
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>

#include "fpokit/fpo/training/reference_cache.h"
#include "fuzz_support.h"

namespace {
constexpr const char* kFingerprint = R"({"fuzz":1})";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fpokit::fuzz::write_file("reference.h5", data, size);
  fpokit::fuzz::run_reader([&] {
    const auto values = fpokit::fpo::load_reference_cache(path, kFingerprint, /*stale_is_error=*/true);
    if (values && values->chosen_pooled.defined()) (void)values->chosen_pooled.sum();
  });
  return 0;
}
