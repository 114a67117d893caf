// libFuzzer harness: an SAE folder's cfg.json (sae/io/sae_io.h). The first byte chooses the layout
// (even: SAELens, with the TopK fixture's sae_weights.safetensors; odd: sparsify, with the
// fixture's sae.safetensors); the rest is cfg.json. A loaded SAE encodes one row.
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>

#include "fpokit/sae/io/sae_io.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fpokit::fuzz::quiet_logging();
  fpokit::fuzz::copy_fixture("sae/saelens_topk/sae_weights.safetensors", "saelens/sae_weights.safetensors");
  fpokit::fuzz::copy_fixture("sae/sparsify/layers.1/sae.safetensors", "sparsify/sae.safetensors");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool sparsify = size > 0 && data[0] % 2 == 1;
  const char* folder = sparsify ? "sparsify" : "saelens";
  fpokit::fuzz::write_file(std::string(folder) + "/cfg.json", size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0);
  fpokit::fuzz::run_reader([&] {
    const auto dir = fpokit::fuzz::scratch_dir() / folder;
    const auto sae = sparsify ? fpokit::sae::load_sparsify(dir) : fpokit::sae::load_saelens(dir);
    torch::NoGradGuard no_grad;
    (void)sae->encode(torch::ones({1, sae->config().d_in}));
  });
  return 0;
}
