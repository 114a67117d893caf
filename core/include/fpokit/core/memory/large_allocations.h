#pragma once

#include <cstddef>

namespace fpokit::core {

// Makes the C library map every heap allocation of at least `threshold_bytes` on its own and
// unmap it when freed, for the rest of the process.
//
// Why: glibc's malloc raises its mmap threshold (up to 32 MiB) each time a mapped block is freed,
// and from then on serves tensors below it from the heap, whose freed middle stays resident. A
// preference step on the CPU allocates and frees large tensors of many sizes (logit chunks, the
// gradients, AdamW's temporaries, the reference pass before training), so its peak RSS ends up
// about 0.5 GB above what is ever live at once; a fixed 1 MiB threshold removes that at an
// unchanged step time (docs/BENCHMARKS.md, "Lean preference step"). It is not for every workload:
// the SAE trainer's CPU step is 20 % slower with it (the kernel zeroes every fresh mapping), so
// only the preference trainer calls it.
//
// Does nothing where the user chose (MALLOC_MMAP_THRESHOLD_ is set) or the C library is not glibc.
// Returns whether the threshold was set.
bool map_large_allocations(std::size_t threshold_bytes = std::size_t{1} << 20);

}  // namespace fpokit::core
