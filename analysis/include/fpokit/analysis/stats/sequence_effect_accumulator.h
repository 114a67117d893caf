#pragma once
// The sequence-level paired test of the drift report (docs/drift-statistics.md, 'Sequence-level
// test' and 'Bootstrap'). Tokens of one sequence are strongly correlated, so the unit of
// replication is the sequence: for sequence s with n_s >= 1 selected tokens,
//   d_s[f] = (1 / n_s) sum_t (a_aligned[t, f] - a_base[t, f]),
// and per feature
//   effect_size = mean_s(d_s) / sd_s(d_s)         (paired Cohen's d_z, sd with n - 1),
//   p_value     = two-sided paired t-test, t = d_z sqrt(n), df = n - 1,
//   ci_low/high = percentile interval of d_z over Poisson-bootstrap replicates of the sequences.
// sd = 0: effect 0 and p = 1 when the mean is 0 too (identical models are never significant),
// else effect +-inf and p = 0. Fewer than 2 sequences: NaN.
//
// Streaming and mergeable: the mean and sum of squared deviations are kept with Welford's update
// and merged with Chan's formula (stable when |mean| >> sd, and exactly 0 for a constant d_s).
// The bootstrap keeps, per replicate r, sum_s w_rs and per feature sum_s w_rs d_s and
// sum_s w_rs d_s^2: plain sums, because d_s is sparse (0 for every feature inactive in the whole
// sequence) and a zero adds nothing to a sum, so a sequence costs B x (its non-zero features).
// Memory: 2 B d_sae + B + 2 d_sae doubles (bootstrap_weights.h has the numbers).
#include <cstdint>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "fpokit/analysis/stats/activation_batch.h"
#include "fpokit/analysis/stats/bootstrap_weights.h"

namespace fpokit::analysis::stats {

// finish()'s columns, length d_sae.
struct SequenceEffects {
  Eigen::VectorXd mean_diff;    // mean_s d_s
  Eigen::VectorXd sd_diff;      // sd_s d_s (n - 1)
  Eigen::VectorXd effect_size;  // d_z
  Eigen::VectorXd ci_low;
  Eigen::VectorXd ci_high;
  Eigen::VectorXd p_value;
};

class SequenceEffectAccumulator {
 public:
  explicit SequenceEffectAccumulator(int64_t d_sae, BootstrapOptions bootstrap = {});

  // Reads the batch itself (standalone use; PairedFeatureAccumulator feeds add_sequence from its
  // own pass over the tokens). Strong guarantee: a batch that throws changes nothing.
  void add(const ActivationBatch& batch);
  // One whole sequence: n_selected selected tokens whose per-feature (aligned - base) sum is
  // diff_sum (length d_sae). n_selected == 0 counts the sequence as seen without a test
  // observation (a split that selects none of its tokens). InputError when the sequence id is the
  // one added just before (a sequence split across two batches) or diff_sum has the wrong length.
  void add_sequence(int64_t sequence_id, int64_t n_selected, const Eigen::Ref<const Eigen::VectorXd>& diff_sum);
  // InputError when `runs` starts with the sequence added last: add() and
  // PairedFeatureAccumulator::add check a batch with it before changing anything.
  void check_continuation(const std::vector<SequenceRun>& runs) const;
  // InputError when d_sae or the bootstrap options differ. The two must have seen disjoint
  // sequences (not checked: that would need every sequence id in memory).
  void merge(const SequenceEffectAccumulator& other);

  int64_t d_sae() const { return d_sae_; }
  const BootstrapOptions& bootstrap() const { return bootstrap_; }
  int64_t n_sequences() const { return n_seen_; }              // every sequence seen
  int64_t n_sequences_with_tokens() const { return n_used_; }  // those with a selected token: the n of the test

  SequenceEffects finish() const;

 private:
  int64_t d_sae_;
  BootstrapOptions bootstrap_;
  int64_t n_seen_ = 0;
  int64_t n_used_ = 0;
  Eigen::VectorXd mean_;                     // Welford running mean of d_s
  Eigen::VectorXd m2_;                       // Welford sum of squared deviations
  Eigen::VectorXd weights_;                  // scratch: this sequence's B weights
  Eigen::VectorXd boot_weight_sum_;          // [B] sum_s w_rs (the same for every feature)
  Eigen::MatrixXd boot_sum_;                 // [B, d_sae] sum_s w_rs d_s; column f is contiguous over r
  Eigen::MatrixXd boot_sum_sq_;              // [B, d_sae] sum_s w_rs d_s^2
  std::optional<int64_t> last_sequence_id_;  // only meaningful for add order; reset by merge
};

}  // namespace fpokit::analysis::stats
