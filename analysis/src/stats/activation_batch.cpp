#include "fpokit/analysis/stats/activation_batch.h"

#include <cmath>
#include <limits>
#include <string>
#include <unordered_set>

#include <Eigen/Core>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

std::vector<SequenceRun> validate_batch(const ActivationBatch& batch, int64_t expected_d_sae) {
  if (batch.d_sae != expected_d_sae) {
    throw InputError("activation batch: d_sae is " + std::to_string(batch.d_sae) +
                     " but the accumulator was made for d_sae " + std::to_string(expected_d_sae) +
                     " (a different SAE?)");
  }
  if (batch.n_tokens < 0)
    throw InputError("activation batch: n_tokens is negative (" + std::to_string(batch.n_tokens) + ")");
  std::vector<SequenceRun> runs;
  if (batch.n_tokens == 0) return runs;
  if (batch.base == nullptr || batch.aligned == nullptr) {
    throw InputError("activation batch: the base or aligned activation pointer is null for " +
                     std::to_string(batch.n_tokens) + " tokens");
  }
  if (batch.sequence_ids == nullptr) throw InputError("activation batch: sequence_ids is null");
  std::unordered_set<int64_t> seen;
  for (int64_t t = 0; t < batch.n_tokens; ++t) {
    const int64_t id = batch.sequence_ids[t];
    if (!runs.empty() && runs.back().sequence_id == id) {
      runs.back().end = t + 1;
      continue;
    }
    if (!seen.insert(id).second) {
      throw InputError("activation batch: sequence " + std::to_string(id) + " reappears at token " + std::to_string(t) +
                       " after other sequences; the tokens of one sequence must be contiguous");
    }
    runs.push_back({id, t, t + 1});
  }
  return runs;
}

void check_activation_row(const float* row, int64_t d_sae, int64_t token, const char* which) {
  // Vectorised test first; the scalar loop below only runs to name the bad value. NaN fails >= 0.
  const Eigen::Map<const Eigen::ArrayXf> values(row, d_sae);
  if ((values >= 0.0f).all() && (values < std::numeric_limits<float>::infinity()).all()) return;
  for (int64_t f = 0; f < d_sae; ++f) {
    const float v = row[f];
    // One comparison covers both NaN (all comparisons false) and negatives.
    if (!(v >= 0.0f) || std::isinf(v)) {
      throw InputError(std::string("activation batch: ") + which + " activation at token " + std::to_string(token) +
                       ", feature " + std::to_string(f) + " is " + std::to_string(v) +
                       "; SAE activations must be finite and >= 0");
    }
  }
}

}  // namespace fpokit::analysis::stats
