#include "fpokit/sae/model/vector_loops.h"

namespace fpokit::sae {

FPOKIT_VECTOR_CLONES
float dot(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  float s = 0;
  for (float x : acc) s += x;
  return s + tail;
}

}  // namespace fpokit::sae
