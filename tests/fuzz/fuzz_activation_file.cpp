// libFuzzer harness: an HDF5 activation cache (sae/data/activation_file.h, ActivationFileReader,
// which validates the whole file up front). A file it accepts has its first and last rows read
// back from every dataset.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "fpokit/core/io/hdf5_structure_check.h"
#include "fpokit/sae/data/activation_file.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A file libhdf5 parses without end is damaged after 2 s here (60 s for users): libFuzzer's
  // -timeout=10 then reports only hangs outside the structure check.
  fpokit::core::hdf5::set_structure_check_time_limit(std::chrono::seconds(2));
  const auto path = fpokit::fuzz::write_file("acts.h5", data, size);
  fpokit::fuzz::run_reader([&] {
    const fpokit::sae::ActivationFileReader reader(path);
    const int64_t rows = reader.num_rows();
    for (const int64_t start : {int64_t{0}, std::max<int64_t>(0, rows - 2)}) {
      const int64_t count = std::min<int64_t>(2, rows - start);
      for (size_t h = 0; h < reader.info().hook_names.size(); ++h) {
        const auto acts = reader.read_activations(h, start, count);
        if (acts.size(0) != count || acts.size(1) != reader.info().d_in[h]) std::abort();
      }
      (void)reader.read_token_ids(start, count);
      (void)reader.read_positions(start, count);
      (void)reader.read_sequence_ids(start, count);
    }
  });
  return 0;
}
