// libFuzzer harness: a safetensors file (lm/checkpoint/safetensors.h). The bytes are the whole file;
// every tensor of a file the reader accepts is viewed and copied, and its span checked against its
// shape and dtype, so an accepted header that points outside the mapping shows up as a crash.
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fpokit::fuzz::write_file("model.safetensors", data, size);
  fpokit::fuzz::run_reader([&] {
    const fpokit::lm::SafetensorsFile file(path);
    for (const auto& info : file.tensors()) {
      int64_t elements = 1;
      for (const int64_t dim : info.shape) elements *= dim;
      if (info.end < info.begin || info.end - info.begin != static_cast<size_t>(elements) * dtype_size(info.dtype) ||
          info.end > size)
        std::abort();  // the reader accepted a span its own rules refuse
      // Bytes, not torch::equal: NaN payloads are valid tensor contents.
      const torch::Tensor view = file.view(info).contiguous();
      const torch::Tensor copy = file.load(info.name).contiguous();
      const size_t bytes = info.end - info.begin;
      if (view.numel() != elements || copy.numel() != elements ||
          (bytes > 0 && (std::memcmp(view.data_ptr(), file.data(info), bytes) != 0 ||
                         std::memcmp(copy.data_ptr(), file.data(info), bytes) != 0)))
        std::abort();
    }
    (void)file.metadata();
  });
  return 0;
}
