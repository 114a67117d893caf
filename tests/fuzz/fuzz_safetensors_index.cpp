// libFuzzer harness: a sharded checkpoint's model.safetensors.index.json (lm/checkpoint/checkpoint.h).
// The bytes are the index; the folder holds the two shards of tests/fixtures/safetensors/sharded.
// Every name the index lists is looked up and viewed, which opens and checks its shard.
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>

#include "fpokit/lm/checkpoint/checkpoint.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const char* shard : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
    fpokit::fuzz::copy_fixture(std::string("safetensors/sharded/") + shard, std::string("ckpt/") + shard);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fpokit::fuzz::write_file("ckpt/model.safetensors.index.json", data, size);
  fpokit::fuzz::run_reader([&] {
    const auto checkpoint = fpokit::lm::Checkpoint::open(fpokit::fuzz::scratch_dir() / "ckpt");
    for (const auto& name : checkpoint.names()) {
      fpokit::fuzz::run_reader([&] {
        (void)checkpoint.info(name);
        (void)checkpoint.file_of(name).path();
        (void)checkpoint.view(name).sum();
      });
    }
  });
  return 0;
}
