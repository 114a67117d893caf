#include "fpokit/fpo/training/pair_forward.h"

#include <optional>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "fpokit/fpo/training/shared_prompt.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/log_probs.h"

namespace fpokit::fpo {

PairBatch PairBatch::to(const torch::Device& device) const {
  return {input_ids.to(device), attention_mask.to(device), completion_mask.to(device)};
}

namespace {

// The chunked head's results laid out as sequence_logps's: dense [R, T-1] tensors, 0 at the
// positions that were not scored.
struct ChunkedSequenceScores {
  SequenceLogps all;
  torch::Tensor logit_sums;           // [R, T-1] float32, no gradient
  torch::Tensor chosen_sequence_nll;  // when asked for
};

ChunkedSequenceScores chunked_sequence_scores(lm::CausalLMImpl& model, const torch::Tensor& hidden,
                                              const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                              const torch::Tensor& completion_mask, int64_t B, bool chosen_sequence_nll,
                                              const PairForwardOptions& chunking) {
  const int64_t R = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
  if (T < 2)
    throw std::invalid_argument("forward_pairs: sequences need at least 2 positions to score a token, got T=" +
                                std::to_string(T));
  const auto V = model.config().vocab_size;
  // Positions t whose next token is scored: the completion's, and for ORPO's NLL every real token
  // of the chosen rows.
  const auto completion = completion_mask.slice(1, 1) != 0;  // [R, T-1]
  auto scored = completion;
  if (chosen_sequence_nll) {
    scored = scored.clone();
    scored.narrow(0, 0, B).logical_or_(attention_mask.narrow(0, 0, B).slice(1, 1) != 0);
  }
  const auto positions = scored.reshape({-1}).nonzero().squeeze(1);
  const auto targets = input_ids.slice(1, 1).reshape({-1}).index_select(0, positions);
  if (((targets < 0) | (targets >= V)).any().item<bool>())
    throw std::invalid_argument("sequence_logps: a completion label is outside the vocabulary [0, " +
                                std::to_string(V) + ")");
  const auto at_positions = [&](const torch::Tensor& h) {
    return h.slice(1, 0, T - 1).reshape({R * (T - 1), H}).index_select(0, positions);
  };
  lm::TokenLogpsRequest request;
  request.head = [&model](const torch::Tensor& h) { return model.logits(h); };
  request.hidden = at_positions(hidden);
  request.targets = targets;
  request.chunk_size = chunking.chunk_size;
  if (chunking.reference_head) {
    if (!chunking.reference_hidden.defined() ||
        chunking.reference_hidden.sizes().slice(0, 2) != hidden.sizes().slice(0, 2))
      throw std::invalid_argument("forward_pairs: the reference's hidden states do not match the batch");
    request.reference_head = chunking.reference_head;
    request.reference_hidden = at_positions(chunking.reference_hidden.detach());
  }
  const auto scores = lm::chunked_token_logps(request);
  const auto dense = [&](const torch::Tensor& values) {
    return torch::zeros({R * (T - 1)}, values.options()).index_put({positions}, values).view({R, T - 1});
  };
  ChunkedSequenceScores out;
  const auto token_logps = dense(scores.logps);
  auto& all = out.all;
  all.mask = completion.to(token_logps.scalar_type());
  all.token_logps = token_logps * all.mask;
  all.sum = all.token_logps.sum(-1);
  all.num_tokens = all.mask.sum(-1);
  all.mean = all.sum / all.num_tokens.clamp_min(1.0);
  if (scores.kl.defined()) all.kl = (dense(scores.kl) * all.mask).sum(-1);
  out.logit_sums = dense(scores.logit_sums);
  if (chosen_sequence_nll) {
    const auto m = attention_mask.narrow(0, 0, B).slice(1, 1).to(token_logps.scalar_type());
    out.chosen_sequence_nll = -(token_logps.narrow(0, 0, B) * m).sum() / m.sum().clamp_min(1.0);
  }
  return out;
}

// The trunk over `batch`, or over its shared-prompt layout, in the PairBatch layout [R, T, hidden].
torch::Tensor trunk_hidden_states(lm::CausalLMImpl& model, const PairBatch& batch, const SharedPromptLayout* layout,
                                  lm::Hooks* hooks) {
  if (!layout) return model.hidden_states({batch.input_ids, batch.attention_mask}, hooks);
  const auto packed = model.hidden_states(
      {layout->input_ids, layout->attention_mask, layout->position_ids, layout->segment_ids}, hooks);
  return packed.defined() ? layout->to_pair_layout(packed) : packed;
}

}  // namespace

torch::Tensor pair_hidden_states(lm::CausalLMImpl& model, const PairBatch& batch, bool share_prompt, lm::Hooks* hooks) {
  if (!share_prompt) return trunk_hidden_states(model, batch, nullptr, hooks);
  const auto layout = shared_prompt_layout(batch);
  return trunk_hidden_states(model, batch, &layout, hooks);
}

PairForward forward_pairs(lm::CausalLMImpl& model, const PairBatch& batch, const FeatureProbe* probe,
                          const torch::Tensor& reference_logits, bool keep_logits, bool chosen_sequence_nll,
                          bool chosen_only, const PairForwardOptions& chunking) {
  if (chunking.chunk_size > 0 && (keep_logits || reference_logits.defined()))
    throw std::logic_error("forward_pairs: the chunked head keeps no logits; pass the reference's hidden states");
  const int64_t B = batch.pairs();
  const auto rows = [&](const torch::Tensor& t) { return chosen_only ? t.narrow(0, 0, B) : t; };
  const auto input_ids = rows(batch.input_ids);
  const auto attention_mask = rows(batch.attention_mask);
  const auto completion_mask = rows(batch.completion_mask);
  const int64_t rejected_start = chosen_only ? 0 : B;
  lm::Hooks hooks;
  torch::Tensor activation;
  if (probe != nullptr && probe->sae != nullptr)
    hooks.on_read(probe->hook, [&](const lm::HookName&, const torch::Tensor& a) { activation = a; });
  const bool chunked = chunking.chunk_size > 0;
  // SFT's chosen_only rows have nothing to share.
  const bool share = chunking.share_prompt && !chosen_only;
  std::optional<SharedPromptLayout> layout;
  if (share) layout = shared_prompt_layout(batch);
  const auto hidden = trunk_hidden_states(model, share ? batch : PairBatch{input_ids, attention_mask, completion_mask},
                                          layout ? &*layout : nullptr, hooks.empty() ? nullptr : &hooks);
  if (layout && activation.defined()) activation = layout->to_pair_layout(activation);
  torch::Tensor logits;
  SequenceLogps all;
  std::optional<ChunkedSequenceScores> chunked_scores;
  if (chunked) {
    PairForwardOptions rows_chunking = chunking;
    if (chunking.reference_hidden.defined()) rows_chunking.reference_hidden = rows(chunking.reference_hidden);
    chunked_scores = chunked_sequence_scores(model, hidden, input_ids, attention_mask, completion_mask, B,
                                             chosen_sequence_nll, rows_chunking);
    all = chunked_scores->all;
  } else {
    logits = model.logits(hidden);
    // Labels are the input ids; sequence_logps shifts them and masks everything but the completion.
    all = sequence_logps(logits, input_ids, completion_mask,
                         reference_logits.defined() ? rows(reference_logits) : reference_logits);
  }
  auto half = [&](int64_t start) {
    SequenceLogps s;
    s.token_logps = all.token_logps.narrow(0, start, B);
    s.mask = all.mask.narrow(0, start, B);
    s.sum = all.sum.narrow(0, start, B);
    s.mean = all.mean.narrow(0, start, B);
    s.num_tokens = all.num_tokens.narrow(0, start, B);
    if (all.kl.defined()) s.kl = all.kl.narrow(0, start, B);
    return s;
  };
  PairForward out;
  out.chosen = half(0);
  out.rejected = half(rejected_start);
  if (keep_logits) out.logits = logits;
  if (chunked_scores) {
    out.chosen_sequence_nll = chunked_scores->chosen_sequence_nll;
  } else if (chosen_sequence_nll) {
    // A second log_softmax over the chosen half (ORPO only); pad positions are excluded by the mask.
    const auto ce = lm::next_token_cross_entropy(logits.narrow(0, 0, B), batch.input_ids.narrow(0, 0, B));
    const auto m = batch.attention_mask.narrow(0, 0, B).slice(1, 1).to(ce.scalar_type());
    out.chosen_sequence_nll = (ce * m).sum() / m.sum().clamp_min(1.0);
  }
  {
    torch::NoGradGuard no_grad;
    // Summed over the vocabulary in float32 without a float32 copy of the logits.
    const int64_t V = model.config().vocab_size;
    const auto per_position = chunked_scores
                                  ? chunked_scores->logit_sums
                                  : torch::sum(logits.narrow(1, 0, logits.size(1) - 1), {-1}, false, torch::kFloat32);
    const auto m = all.mask.to(torch::kFloat32);
    auto mean_of = [&](int64_t start) {
      const auto mh = m.narrow(0, start, B);
      return (per_position.narrow(0, start, B) * mh).sum() / (mh.sum() * static_cast<double>(V));
    };
    out.mean_logits_chosen = mean_of(0);
    out.mean_logits_rejected = mean_of(rejected_start);
  }
  if (activation.defined()) {
    const auto& sae = *probe->sae;
    const auto x = activation.to(torch::kFloat32);
    const auto features = sae.encode(sae.normalize_input(x));  // [2B, T, F]
    const auto pooled = pool_features(features, completion_mask, probe->variant);
    out.pooled_chosen = pooled.narrow(0, 0, B);
    out.pooled_rejected = pooled.narrow(0, rejected_start, B);
  }
  return out;
}

}  // namespace fpokit::fpo
