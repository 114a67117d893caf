#pragma once
// One prompt forward for both completions. A PairBatch holds each pair twice over its prompt:
// chosen row b = [prompt | y_w], rejected row B+b = [prompt | y_l]. The shared-prompt layout packs
// pair b into one row [common prefix | rest of chosen | rest of rejected] with per-token positions
// (each rest continues from the prefix's end) and segments (lm::ForwardInput::position_ids /
// segment_ids), so the trunk runs P + C_w + C_l tokens per pair instead of 2P + C_w + C_l, and
// every token's hidden state is the one it has in its own sequence.
//
// The common prefix is the longest common prefix of the two token sequences, not the prompt
// length: where a tokenizer merges across the prompt/completion boundary the sequences part a
// token earlier, and sharing only what is identical keeps the result exact whatever the
// tokenisation did. A pair whose sequences part at 0 simply gets no sharing.
#include <cstdint>

#include <torch/types.h>

namespace fpokit::fpo {

struct PairBatch;

struct SharedPromptLayout {
  // The packed rows, one per pair: [B, L] int64 each.
  torch::Tensor input_ids, attention_mask, position_ids, segment_ids;
  // For each of the PairBatch's 2B rows and T positions, the flat index (pair · L + column) of the
  // packed token that holds it; 0 at padding. int64 [2B · T].
  torch::Tensor gather_index;
  int64_t pair_rows = 0, seq_len = 0;  // 2B and T of the PairBatch

  // A tensor of the packed layout [B, L, ...] (hidden states, a hook's activations) in the
  // PairBatch layout [2B, T, ...]; differentiable (an index_select).
  torch::Tensor to_pair_layout(const torch::Tensor& packed) const;
};

// The layout of `batch` (on the batch's device). Reads the ids on the CPU (one copy).
SharedPromptLayout shared_prompt_layout(const PairBatch& batch);

}  // namespace fpokit::fpo
