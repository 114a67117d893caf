#pragma once
// One model forward over a batch of preference pairs, laid out [chosen_0..B-1 ; rejected_0..B-1]
// (docs/methods.md, 'Conventions'), giving what the losses need: per-sequence log-probs of the
// completions and, for FPO, the SAE features at a hook, average-pooled over the completion.
// The same function serves the policy (with gradient) and the reference (under NoGradGuard).
#include <cstdint>

#include <torch/types.h>

#include "fpokit/fpo/losses/preference_losses.h"
#include "fpokit/fpo/training/sequence_logps.h"
#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/chunked_token_logps.h"
#include "fpokit/lm/model/hook_name.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::fpo {

struct PairBatch {
  torch::Tensor input_ids;        // int64 [2B, T], right-padded
  torch::Tensor attention_mask;   // int64 [2B, T]
  torch::Tensor completion_mask;  // int64 [2B, T], 1 on completion tokens (EOS included)
  int64_t pairs() const { return input_ids.size(0) / 2; }
  PairBatch to(const torch::Device& device) const;
};

// The SAE whose features FPO constrains, the hook it reads, and the pooling variant.
struct FeatureProbe {
  const sae::SparseAutoencoderImpl* sae = nullptr;
  lm::HookName hook;
  FpoVariant variant = FpoVariant::Paper;
};

struct PairForward {
  SequenceLogps chosen, rejected;
  torch::Tensor pooled_chosen, pooled_rejected;  // [B, F] when a probe was given
  torch::Tensor logits;                          // [2B, T, V] when asked for (TDPO's reference)
  // TRL's logits/chosen and logits/rejected: the mean logit over the vocabulary and the positions
  // that predict completion tokens, of each half of the batch; float32 scalars, no gradient.
  torch::Tensor mean_logits_chosen, mean_logits_rejected;
  // When asked for: the token-mean cross-entropy of the chosen rows over every position that
  // predicts a real token (prompt and completion: attention_mask[:, 1:]), TRL's ORPO NLL; a scalar.
  torch::Tensor chosen_sequence_nll;
};

// How forward_pairs runs the trunk and the head (issue 14's lean step; both are exact):
// - chunk_size > 0: lm::chunked_token_logps on the positions that predict completion tokens (and,
//   for ORPO's NLL, the chosen rows' prompt tokens) only, never [2B, T, V] logits; 0 is the
//   full-logits path (the head on every position, then sequence_logps), kept for comparison and
//   for keep_logits.
// - share_prompt: the trunk runs each pair once over its common prefix (shared_prompt.h) instead
//   of twice; the hidden states are then laid out as the two-sequence batch's.
struct PairForwardOptions {
  int64_t chunk_size = 0;
  bool share_prompt = false;
  // TDPO's token KL on the chunked path: the reference's head and its final hidden states
  // [2B, T, hidden] for the same batch (reference_logits is the full path's).
  lm::LmHeadFn reference_head;
  torch::Tensor reference_hidden;
};

// The final hidden states [2B, T, hidden] of `batch` (the PairBatch layout), through the
// shared-prompt layout when asked: the same values for fewer trunk tokens. `hooks` see the
// trunk's own layout (packed rows [B, L, ...] when sharing).
torch::Tensor pair_hidden_states(lm::CausalLMImpl& model, const PairBatch& batch, bool share_prompt,
                                 lm::Hooks* hooks = nullptr);

// reference_logits [2B, T, V] (optional) fills SequenceLogps::kl (TDPO).
PairForward forward_pairs(lm::CausalLMImpl& model, const PairBatch& batch, const FeatureProbe* probe = nullptr,
                          const torch::Tensor& reference_logits = {}, bool keep_logits = false,
                          bool chosen_sequence_nll = false, bool chosen_only = false,
                          const PairForwardOptions& chunking = {});
// chosen_only (SFT, whose loss reads the chosen side alone): forwards the B chosen rows only and
// returns them as both sides, half the compute of the pair.

}  // namespace fpokit::fpo
