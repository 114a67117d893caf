// libFuzzer harness: NumPy .npz archives and .npy members (sae/io/npz.h), and Gemma Scope's
// params.npz on top of them (sae/io/sae_io.h, load_gemma_scope). The bytes are the .npz; they are
// also parsed as a bare .npy image.
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fpokit/sae/io/npz.h"
#include "fpokit/sae/io/sae_io.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fpokit::fuzz::quiet_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fpokit::fuzz::write_file("params.npz", data, size);
  fpokit::fuzz::run_reader(
      [&] { (void)fpokit::sae::parse_npy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy"); });
  fpokit::fuzz::run_reader([&] {
    for (const auto& [name, tensor] : fpokit::sae::read_npz(path)) (void)tensor.sum();
  });
  fpokit::fuzz::run_reader([&] {
    const auto sae = fpokit::sae::load_gemma_scope(path);
    torch::NoGradGuard no_grad;
    (void)sae->encode(torch::ones({1, sae->config().d_in}));
  });
  return 0;
}
