#pragma once
// Small float32 loops shared by the SAE's CPU kernels (sparse_kernels, fused_update).
#include <cstdint>

// Compiles a loop for AVX-512 and AVX2 as well as the x86-64 baseline, and the loader picks the
// best the CPU has (GCC function multiversioning); elsewhere a plain function.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FPOKIT_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FPOKIT_VECTOR_CLONES
#endif

namespace fpokit::sae {

// Σ a_j b_j over n floats, with sixteen partial sums: the compiler turns them into one vector
// register, which a single running sum (an ordered reduction) would forbid.
float dot(const float* a, const float* b, int64_t n);

}  // namespace fpokit::sae
