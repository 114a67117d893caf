#include "fpokit/core/train/cpu_bf16.h"

#include <ATen/cpu/Utils.h>

namespace fpokit::core {

bool cpu_has_bf16_units() {
  const auto caps = at::cpu::get_cpu_capabilities();
  auto has = [&](const char* name) {
    const auto it = caps.find(name);
    return it != caps.end() && it->second.isBool() && it->second.toBool();
  };
  return has("avx512_bf16") || has("amx_bf16");
}

}  // namespace fpokit::core
