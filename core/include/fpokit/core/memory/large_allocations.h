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
// only the preference trainer calls it; the SAE trainer calls reuse_freed_memory instead.
//
// Does nothing where the user chose (MALLOC_MMAP_THRESHOLD_ is set) or the C library is not glibc.
// Returns whether the threshold was set.
bool map_large_allocations(std::size_t threshold_bytes = std::size_t{1} << 20);

// The opposite choice, for the SAE trainer's CPU step: every allocation comes from the heap and
// freed memory stays in the process for the next one (no mmap of large blocks, no trimming).
//
// Why: each step allocates and frees the same few large tensors (the [B, F] pre-activations, a
// transposed W_enc, the dense decoder and encoder gradients: some 250 MB at d = 512,
// F = 16384, B = 2048), all above glibc's 32 MiB ceiling for its mmap threshold, so by default
// each is a fresh mapping whose pages the kernel faults in and zeroes, every step: 17 % of the
// bf16 step here (docs/BENCHMARKS.md, "Where the SAE step goes"). The price is that the peak
// stays resident until the process exits, which a training process reaches every step anyway.
//
// Does nothing where the user chose (MALLOC_MMAP_MAX_, MALLOC_TRIM_THRESHOLD_ or a
// glibc.malloc tunable in GLIBC_TUNABLES is set) or the C library is not glibc. Returns whether
// it changed the settings.
bool reuse_freed_memory();

}  // namespace fpokit::core
