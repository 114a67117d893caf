#pragma once
// Per-sequence log-probabilities of completions, the inputs of every preference loss.
//
// Shift (docs/methods.md, 'Conventions'): the logits at position t score the token at t+1, so
//   token_logps[b, t] = log_softmax(logits[b, t])[labels[b, t+1]] · mask[b, t],
//   mask[b, t]        = completion_mask[b, t+1]            (t = 0 .. T-2)
// over right-padded rows with completion_mask 1 on the completion tokens (EOS included) and 0 on
// the prompt and the padding. Labels outside the completion are ignored (-100 is fine there).
//
// Precision: log_softmax runs in float32 whatever the logits' dtype (float64 stays float64, for
// gradient checks). Both FPO repositories take log_softmax of bf16 logits ('Conventions'); we
// deliberately do not: bf16 keeps 8 significant bits, so a token log-prob near -5 is off by up to
// ~1e-2, the size of the per-token log-ratios the losses compare. Outputs are in the compute dtype.
#include <torch/types.h>

namespace fpokit::fpo {

struct SequenceLogps {
  torch::Tensor token_logps;  // [B, T-1], 0 outside the completion
  torch::Tensor mask;         // [B, T-1], the shifted completion mask, 0/1 in the compute dtype
  torch::Tensor sum;          // [B]  Σ_t token_logps (DPO, TDPO, KTO)
  torch::Tensor mean;         // [B]  sum / num_tokens (SimPO, FPO, ORPO, IPO as TRL)
  torch::Tensor num_tokens;   // [B]  completion tokens per row, as a float of the compute dtype
  // [B] Σ_t KL(π_ref(·|x,y<t) ‖ π(·|x,y<t)) over the completion positions (TDPO; docs/methods.md,
  // 'Conventions'); defined only when reference logits were given.
  torch::Tensor kl;
};

// logits [B, T, V] (any floating dtype, with or without gradient), labels [B, T] integer ids,
// completion_mask [B, T] (bool or 0/1 numbers). With reference_logits [B, T, V] also fills `kl`;
// the reference never receives gradient (it is detached here).
//
// A row without completion tokens has mean 0 (the count is clamped to 1 in the division, as TRL's
// IPO does) instead of NaN, which would poison the whole batch's gradient.
// Throws std::invalid_argument on mismatched shapes or a completion label outside [0, V).
SequenceLogps sequence_logps(const torch::Tensor& logits, const torch::Tensor& labels,
                             const torch::Tensor& completion_mask, const torch::Tensor& reference_logits = {});

// The dtype the log-probs are computed in for logits of dtype `t`: float64 for float64, else float32.
torch::ScalarType logps_compute_dtype(torch::ScalarType t);

}  // namespace fpokit::fpo
