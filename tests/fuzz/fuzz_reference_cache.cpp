// libFuzzer harness: an HDF5 reference-log-prob cache (fpo/training/reference_cache.h,
// load_reference_cache). The seeds are written by save_reference_cache with the fingerprint
// below, so that mutations get past the fingerprint check to the datasets.
#include <torch/torch.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "fpokit/core/io/hdf5_structure_check.h"
#include "fpokit/fpo/training/reference_cache.h"
#include "fuzz_support.h"

namespace {
constexpr const char* kFingerprint = R"({"fuzz":1})";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A file libhdf5 parses without end is damaged after 2 s here (60 s for users): libFuzzer's
  // -timeout=10 then reports only hangs outside the structure check.
  fpokit::core::hdf5::set_structure_check_time_limit(std::chrono::seconds(2));
  const auto path = fpokit::fuzz::write_file("reference.h5", data, size);
  fpokit::fuzz::run_reader([&] {
    const auto values = fpokit::fpo::load_reference_cache(path, kFingerprint, /*stale_is_error=*/true);
    if (values && values->chosen_pooled.defined()) (void)values->chosen_pooled.sum();
  });
  return 0;
}
