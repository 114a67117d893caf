#include "fpokit/core/memory/large_allocations.h"

#include <cstdlib>

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

}  // namespace fpokit::core
