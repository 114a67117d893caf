#pragma once
// One batch of paired SAE activations for the drift statistics (docs/drift-statistics.md): the
// same SAE encodes the base and the aligned model's residual stream on identical token sequences,
// so row t of `base` and row t of `aligned` are the same token.
#include <cstdint>
#include <vector>

namespace fpokit::analysis::stats {

// A view, no ownership. Activations are row-major [n_tokens, d_sae] float32, finite and >= 0 (SAE
// activations after ReLU / JumpReLU / TopK; a negative value means the caller passed something
// else, e.g. pre-activations). Tokens of one sequence are contiguous, and a sequence never spans
// two batches: the sequence-level test needs each sequence's mean difference from one batch.
struct ActivationBatch {
  const float* base = nullptr;
  const float* aligned = nullptr;
  int64_t n_tokens = 0;
  int64_t d_sae = 0;
  const int64_t* sequence_ids = nullptr;  // [n_tokens]
  const uint8_t* mask = nullptr;          // [n_tokens]; nullptr = all tokens; 0 = skip (split selection)
};

// A maximal run of tokens [begin, end) with the same sequence id.
struct SequenceRun {
  int64_t sequence_id;
  int64_t begin;
  int64_t end;
};

// Checks the shape and pointers against the accumulator's d_sae and splits the batch into its
// sequences. InputError when d_sae differs, a pointer is null, n_tokens < 0, or a sequence id
// reappears after another sequence (its tokens are not contiguous). The values themselves are
// checked row by row where they are read (PairedFeatureAccumulator), to avoid a second pass.
std::vector<SequenceRun> validate_batch(const ActivationBatch& batch, int64_t expected_d_sae);

// InputError unless every value of row `token` of `row` (d_sae floats) is finite and >= 0; `which`
// ("base" / "aligned") names the model in the message.
void check_activation_row(const float* row, int64_t d_sae, int64_t token, const char* which);

}  // namespace fpokit::analysis::stats
