// core::map_large_allocations: the preference trainer's fix for glibc's rising mmap threshold,
// which otherwise leaves freed large tensors resident (core/memory/large_allocations.h).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "fpokit/core/memory/large_allocations.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define FPOKIT_TEST_OWN_MALLOC 0  // AddressSanitizer replaces malloc: glibc's threshold is not in play
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FPOKIT_TEST_OWN_MALLOC 0
#endif
#endif
#ifndef FPOKIT_TEST_OWN_MALLOC
#define FPOKIT_TEST_OWN_MALLOC 1
#endif

using namespace fpokit;

namespace {
void* volatile sink = nullptr;  // keeps the compiler from eliding the allocations

#if defined(__GLIBC__)
// Bytes currently in blocks that malloc mapped on their own.
size_t mapped_bytes() { return mallinfo2().hblkhd; }
#endif
}  // namespace

TEST_CASE("map_large_allocations leaves a user's MALLOC_MMAP_THRESHOLD_ alone", "[core][memory]") {
  REQUIRE(setenv("MALLOC_MMAP_THRESHOLD_", "65536", 1) == 0);
  CHECK_FALSE(core::map_large_allocations());
  REQUIRE(unsetenv("MALLOC_MMAP_THRESHOLD_") == 0);
}

#if defined(__GLIBC__) && FPOKIT_TEST_OWN_MALLOC
TEST_CASE("map_large_allocations maps large blocks even after glibc raised its threshold", "[core][memory]") {
  constexpr size_t big = size_t{16} << 20, medium = size_t{4} << 20, larger = size_t{8} << 20;
  // glibc's own behaviour, the reason for the function: freeing a mapped 16 MiB block raises the
  // threshold past it, so the next 4 MiB block comes from the heap (and stays there when freed).
  sink = std::malloc(big);
  std::free(sink);
  const size_t before = mapped_bytes();
  sink = std::malloc(medium);
  CHECK(mapped_bytes() == before);
  std::free(sink);

  // From now on a block that the heap's free space cannot hold (the 4 MiB freed above can) is
  // mapped on its own, and returned to the system when freed, instead of growing the heap.
  REQUIRE(core::map_large_allocations(size_t{1} << 20));
  sink = std::malloc(larger);
  CHECK(mapped_bytes() >= before + larger);
  std::free(sink);
  CHECK(mapped_bytes() == before);
}
#endif

TEST_CASE("reuse_freed_memory leaves a user's malloc settings alone", "[core][memory]") {
  REQUIRE(setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_max=1", 1) == 0);
  CHECK_FALSE(core::reuse_freed_memory());
  REQUIRE(unsetenv("GLIBC_TUNABLES") == 0);
  REQUIRE(setenv("MALLOC_TRIM_THRESHOLD_", "1", 1) == 0);
  CHECK_FALSE(core::reuse_freed_memory());
  REQUIRE(unsetenv("MALLOC_TRIM_THRESHOLD_") == 0);
}

#if defined(__GLIBC__) && FPOKIT_TEST_OWN_MALLOC
TEST_CASE("reuse_freed_memory serves large blocks from the heap and keeps them there", "[core][memory]") {
  // In a child process: the setting lasts for the process, and other tests here map blocks.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    constexpr size_t big = size_t{64} << 20;  // above glibc's 32 MiB ceiling for its threshold
    const size_t before = mapped_bytes();
    if (!core::reuse_freed_memory()) _exit(10);
    sink = std::malloc(big);
    if (mapped_bytes() != before) _exit(11);  // by default this block would be a mapping
    std::free(sink);
    const size_t heap = mallinfo2().arena;  // the freed block stays in the heap...
    sink = std::malloc(big);                // ...and serves the next one
    if (mallinfo2().arena != heap || mapped_bytes() != before) _exit(12);
    std::free(sink);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
#endif
