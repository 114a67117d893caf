#pragma once
// Streaming, mergeable per-feature drift statistics over paired SAE activations
// (docs/drift-statistics.md). `fpokit drift` feeds it one ActivationBatch at a time; memory depends
// on d_sae (and the bootstrap's B), never on the number of tokens, and accumulators that saw
// disjoint sequences merge into the one that saw all of them (a sharded or resumed run).
//
// Per feature, over the selected tokens, it keeps exact int64 counts (active under each model,
// on->off, off->on) and double sums of a_b, a_a, a_b^2, a_a^2, a_b a_a and |a_a - a_b|. Each term
// is computed exactly in double from the float32 inputs, so only the summation rounds, and the
// base and aligned sums of identical inputs are bit-identical (every delta exactly 0). A token row
// with few non-zero entries (the usual SAE case) is accumulated by a loop over those entries only,
// which adds the same terms minus exact zeros: the result is bit-identical to the dense path. Plus the
// running max, log histograms for the p99 columns (feature_histograms.h) and the sequence-level
// test (sequence_effect_accumulator.h).
#include <cstdint>

#include <Eigen/Core>

#include "fpokit/analysis/stats/activation_batch.h"
#include "fpokit/analysis/stats/bootstrap_weights.h"
#include "fpokit/analysis/stats/feature_drift_stats.h"
#include "fpokit/analysis/stats/feature_histograms.h"
#include "fpokit/analysis/stats/log_histogram.h"
#include "fpokit/analysis/stats/sequence_effect_accumulator.h"

namespace fpokit::analysis::stats {

class PairedFeatureAccumulator {
 public:
  explicit PairedFeatureAccumulator(int64_t d_sae, LogHistogramSpec spec = {}, BootstrapOptions boot = {});

  // InputError for a shape mismatch, a null pointer, non-contiguous sequences, a sequence that
  // continues from the previous batch, or a selected activation that is negative or not finite.
  // Strong guarantee: a batch that throws changes nothing.
  void add(const ActivationBatch& batch);
  // InputError when d_sae, the histogram spec or the bootstrap options differ.
  void merge(const PairedFeatureAccumulator& other);

  int64_t d_sae() const { return d_sae_; }
  int64_t n_tokens() const { return n_tokens_; }  // selected tokens
  int64_t n_sequences() const { return sequences_.n_sequences(); }
  int64_t n_sequences_with_tokens() const { return sequences_.n_sequences_with_tokens(); }
  const FeatureHistograms& histograms_base() const { return hist_base_; }
  const FeatureHistograms& histograms_aligned() const { return hist_aligned_; }
  const SequenceEffectAccumulator& sequence_effects() const { return sequences_; }

  // The report's columns. decoder_norms (length d_sae, ||W_dec[f]||; InputError otherwise) gives
  // delta_write; nullptr leaves it NaN.
  FeatureDriftStats finish(const Eigen::VectorXd* decoder_norms) const;

 private:
  using CountVector = Eigen::Matrix<int64_t, Eigen::Dynamic, 1>;

  // One selected token: vectorised over all features, or a scalar loop over the non-zero ones.
  void add_dense_row(const float* row_b, const float* row_a);
  void add_sparse_row(const float* row_b, const float* row_a);
  void add_sparse_entry(int64_t feature, float b, float a);

  int64_t d_sae_;
  int64_t n_tokens_ = 0;
  CountVector active_base_, active_aligned_, on_off_, off_on_;
  Eigen::VectorXd sum_base_, sum_aligned_, sum_sq_base_, sum_sq_aligned_, sum_cross_, sum_abs_diff_;
  Eigen::VectorXd max_base_, max_aligned_;  // -inf until the first token
  FeatureHistograms hist_base_, hist_aligned_;
  SequenceEffectAccumulator sequences_;
  Eigen::VectorXd diff_sum_;  // scratch: the current sequence's sum of a_a - a_b
};

}  // namespace fpokit::analysis::stats
