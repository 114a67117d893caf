#include "fpokit/fpo/training/pair_forward.h"

#include <torch/torch.h>

#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/log_probs.h"

namespace fpokit::fpo {

PairBatch PairBatch::to(const torch::Device& device) const {
  return {input_ids.to(device), attention_mask.to(device), completion_mask.to(device)};
}

PairForward forward_pairs(lm::CausalLMImpl& model, const PairBatch& batch, const FeatureProbe* probe,
                          const torch::Tensor& reference_logits, bool keep_logits, bool chosen_sequence_nll,
                          bool chosen_only) {
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
  const auto logits = model.forward({input_ids, attention_mask}, hooks.empty() ? nullptr : &hooks);
  // Labels are the input ids; sequence_logps shifts them and masks everything but the completion.
  const auto all = sequence_logps(logits, input_ids, completion_mask,
                                  reference_logits.defined() ? rows(reference_logits) : reference_logits);
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
  if (chosen_sequence_nll) {
    // A second log_softmax over the chosen half (ORPO only); pad positions are excluded by the mask.
    const auto ce = lm::next_token_cross_entropy(logits.narrow(0, 0, B), batch.input_ids.narrow(0, 0, B));
    const auto m = batch.attention_mask.narrow(0, 0, B).slice(1, 1).to(ce.scalar_type());
    out.chosen_sequence_nll = (ce * m).sum() / m.sum().clamp_min(1.0);
  }
  {
    torch::NoGradGuard no_grad;
    // Summed over the vocabulary in float32 without a float32 copy of the logits.
    const int64_t T = logits.size(1), V = logits.size(2);
    const auto per_position = torch::sum(logits.narrow(1, 0, T - 1), {-1}, false, torch::kFloat32);
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
