#include "fpokit/analysis/stats/bootstrap_weights.h"

#include <array>
#include <cmath>
#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

namespace {

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;  // SplitMix64's increment, 2^64 / golden ratio
constexpr int kMaxCount = 24;                       // P(Poisson(1) > 24) < 1e-25, far below 2^-53

// cdf[k] = P(Poisson(1) <= k).
const std::array<double, kMaxCount + 1>& poisson1_cdf() {
  static const std::array<double, kMaxCount + 1> cdf = [] {
    std::array<double, kMaxCount + 1> c{};
    double p = std::exp(-1.0);
    double sum = p;
    c[0] = sum;
    for (int k = 1; k <= kMaxCount; ++k) {
      p /= k;
      sum += p;
      c[k] = sum;
    }
    return c;
  }();
  return cdf;
}

uint32_t poisson1_from_uniform(double u) {
  const auto& cdf = poisson1_cdf();
  uint32_t k = 0;
  while (k < static_cast<uint32_t>(kMaxCount) && u >= cdf[k]) ++k;
  return k;
}

}  // namespace

void BootstrapOptions::validate() const {
  if (replicates < 0 || replicates > 100000) {
    throw InputError("bootstrap: replicates must be in [0, 100000], got " + std::to_string(replicates));
  }
  if (!(confidence > 0.0 && confidence < 1.0)) {
    throw InputError("bootstrap: confidence must be in (0, 1), got " + std::to_string(confidence));
  }
}

uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint32_t poisson_bootstrap_weight(uint64_t seed, int64_t sequence_id, int64_t replicate) {
  // Chained absorb-and-mix: each key word is added to the state and mixed, so changing any of
  // the three changes every output bit with probability ~1/2.
  uint64_t h = splitmix64_mix(seed + kGamma);
  h = splitmix64_mix(h + static_cast<uint64_t>(sequence_id) + kGamma);
  h = splitmix64_mix(h + static_cast<uint64_t>(replicate) + kGamma);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;  // uniform on [0, 1), 53 bits
  return poisson1_from_uniform(u);
}

void poisson_bootstrap_weights(uint64_t seed, int64_t sequence_id, Eigen::Ref<Eigen::VectorXd> out) {
  for (Eigen::Index r = 0; r < out.size(); ++r) out[r] = poisson_bootstrap_weight(seed, sequence_id, r);
}

}  // namespace fpokit::analysis::stats
