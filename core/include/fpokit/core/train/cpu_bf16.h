#pragma once

namespace fpokit::core {

// Whether this CPU multiplies bf16 in hardware (AVX512_BF16 or AMX, as oneDNN uses them). Without
// either, a bf16 product is emulated and slower than float32, so bf16 autocast on such a CPU only
// costs precision: the trainers warn.
bool cpu_has_bf16_units();

}  // namespace fpokit::core
