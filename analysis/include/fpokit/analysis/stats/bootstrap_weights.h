#pragma once
// Counter-based Poisson(1) weights for the streaming bootstrap over sequences
// (docs/drift-statistics.md, 'Bootstrap').
//
// The Poisson bootstrap replaces "draw n sequences with replacement" by giving every sequence an
// independent Poisson(1) count in every replicate; for large n the two agree, and the Poisson form
// needs neither n in advance nor a second pass. The weight is a pure function of
// (seed, sequence_id, replicate): a SplitMix64 hash of the three makes one uniform double, which
// the Poisson(1) inverse CDF turns into a count. Nothing depends on the order in which sequences
// arrive, on batch boundaries or on how the data is split between accumulators that are merged
// later, so a run is reproducible from its seed alone.
#include <cstdint>

#include <Eigen/Core>

namespace fpokit::analysis::stats {

struct BootstrapOptions {
  // B. Memory is 2 * B * d_sae doubles (SequenceEffectAccumulator): 52 MB at the default B = 200
  // and d_sae = 16384, 262 MB at B = 1000. 200 replicates put the 2.5% / 97.5% percentiles on the
  // 5th / 195th order statistic, enough for a screening interval; raise it for publication CIs.
  // 0 disables the bootstrap (ci_low / ci_high are NaN).
  int replicates = 200;
  uint64_t seed = 0;
  double confidence = 0.95;  // the percentile interval is [(1 - c) / 2, (1 + c) / 2]

  // InputError unless 0 <= replicates <= 100000 and 0 < confidence < 1.
  void validate() const;
  bool operator==(const BootstrapOptions&) const = default;
};

// The SplitMix64 output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
uint64_t splitmix64_mix(uint64_t z);

// Sequence `sequence_id`'s Poisson(1) weight in replicate `replicate` under `seed`.
uint32_t poisson_bootstrap_weight(uint64_t seed, int64_t sequence_id, int64_t replicate);

// The weights of all replicates 0..out.size()-1 for one sequence.
void poisson_bootstrap_weights(uint64_t seed, int64_t sequence_id, Eigen::Ref<Eigen::VectorXd> out);

}  // namespace fpokit::analysis::stats
