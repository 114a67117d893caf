#include "fpokit/core/memory/large_allocations.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fpokit::core {

bool map_large_allocations(std::size_t threshold_bytes) {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return false;
  // Setting the threshold also stops glibc from raising it dynamically, which is the point.
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(threshold_bytes)) == 1;
#else
  (void)threshold_bytes;
  return false;
#endif
}

bool reuse_freed_memory() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_MMAP_MAX_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) return false;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return false;
  // M_MMAP_MAX 0: no block is mapped on its own (glibc still maps when the heap cannot grow);
  // M_TRIM_THRESHOLD −1: the top of the heap is never given back.
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
#else
  return false;
#endif
}

}  // namespace fpokit::core
