#pragma once
// Log-probabilities from logits, next-token cross-entropy and KL between next-token distributions:
// the one implementation that SAE evaluation (CE/KL with the SAE spliced in), preference training
// (sequence log-probs, TDPO's token KL) and the drift report (KL of the aligned model to the base)
// share.
//
// Precision: log_softmax runs in float32 whatever the logits' dtype (bf16 keeps 8 significant
// bits: a token log-prob near -5 would be off by ~1e-2); float64 logits stay float64 (gradient
// checks). Results are in that compute dtype.
#include <torch/types.h>

namespace fpokit::lm {

// The dtype log-probs of logits of dtype `t` are computed in: float64 for float64, else float32.
torch::ScalarType log_prob_dtype(torch::ScalarType t);

// log_softmax over the last (vocabulary) dimension, in log_prob_dtype.
torch::Tensor log_probs(const torch::Tensor& logits);

// log_probs[..., targets]: [...] from log_probs [..., V] and integer targets [...].
torch::Tensor gather_log_probs(const torch::Tensor& log_probs, const torch::Tensor& targets);

// Per-position cross-entropy of predicting ids[:, t+1] from logits[:, t]: logits [B, T, V],
// ids [B, T] → [B, T-1].
torch::Tensor next_token_cross_entropy(const torch::Tensor& logits, const torch::Tensor& ids);

// KL(p ‖ q) = Σ_v p_v (log p_v − log q_v) per position, from log-probs [..., V] → [...]. Taking
// log-probs (not softmax then log) keeps it finite where p underflows to 0: 0·(−inf) would be NaN.
torch::Tensor kl_divergence(const torch::Tensor& log_p, const torch::Tensor& log_q);

}  // namespace fpokit::lm
