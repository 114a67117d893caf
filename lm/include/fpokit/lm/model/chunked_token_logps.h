#pragma once
// Log-probabilities of chosen target tokens at N positions without materialising their
// [N, vocab] logits: the LM head, Gemma-2's soft-cap, the float32 log-softmax and the gather run
// on `chunk_size` positions at a time, and the backward recomputes each chunk's logits (a custom
// autograd node, like activation checkpointing) and accumulates the hidden-state gradient and,
// through an inner backward, the head weights' (.grad, as the reentrant checkpoint does). Peak
// memory holds one chunk of logits, their log-probs and their gradient, instead of all of them.
//
// Exact: a chunk is a block of whole rows of the vocabulary, so each log-softmax normaliser is the
// full one; results equal lm::log_probs + gather_log_probs on the full logits up to the matmul's
// summation order (docs/methods.md, 'Chunked log-probs'). Autocast (bf16 forwards) and the random
// draws of a LoRA head's dropout are replayed in the recomputation.
//
// The reference's distribution (TDPO's token KL) is taken the same way: its head on its hidden
// states, chunk by chunk, recomputed in the backward rather than stored ([N, vocab] is what this
// avoids).
#include <cstdint>
#include <functional>

#include <torch/types.h>

namespace fpokit::lm {

// An LM head: final hidden states [n, hidden] -> logits [n, vocab] (CausalLMImpl::logits, with
// whatever the caller needs around it, such as a LoRA run's adapters switched off for its
// reference). It is called again in the backward, so it must outlive the backward pass.
using LmHeadFn = std::function<torch::Tensor(const torch::Tensor& hidden)>;

struct TokenLogpsRequest {
  LmHeadFn head;
  torch::Tensor hidden;   // [N, hidden] the policy's final hidden states at the scored positions
  torch::Tensor targets;  // [N] int64 the token each position predicts, in [0, vocab)
  int64_t chunk_size = 1024;
  // TDPO: KL(π_ref ‖ π) at each position; the reference never receives gradient.
  LmHeadFn reference_head;
  torch::Tensor reference_hidden;  // [N, hidden]
};

struct TokenLogps {
  torch::Tensor logps;       // [N] log π(target) in log_prob_dtype (float32; float64 stays float64)
  torch::Tensor kl;          // [N] Σ_v p_ref (log p_ref − log π), when a reference was given
  torch::Tensor logit_sums;  // [N] float32 Σ_v logits, no gradient (TRL's logits/chosen metric)
};

// With grad mode on and `hidden` requiring grad, logps and kl carry the chunked backward; else
// they are computed chunk by chunk with ordinary autograd (or none). Throws std::invalid_argument
// on mismatched shapes or a chunk_size < 1.
TokenLogps chunked_token_logps(const TokenLogpsRequest& request);

}  // namespace fpokit::lm
