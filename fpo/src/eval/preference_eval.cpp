#include "fpokit/fpo/eval/preference_eval.h"

#include <cstdio>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/fpo/training/pair_forward.h"
#include "fpokit/fpo/training/preference_trainer.h"

namespace fpokit::fpo {

PreferenceEvalResult evaluate_preferences(lm::CausalLMImpl& model, lm::CausalLMImpl& reference,
                                          const std::vector<TokenizedPair>& pairs, double beta, int64_t batch_size,
                                          int64_t pad_id) {
  torch::NoGradGuard no_grad;
  model.eval();
  reference.eval();
  const auto device = model.parameters().front().device();
  std::vector<torch::Tensor> rw, rl, pw, pl, qw, ql;
  for (size_t start = 0; start < pairs.size(); start += static_cast<size_t>(batch_size)) {
    std::vector<const TokenizedPair*> batch;
    for (size_t i = start; i < std::min(pairs.size(), start + static_cast<size_t>(batch_size)); ++i) batch.push_back(&pairs[i]);
    const auto b = collate_pairs(batch, pad_id).to(device);
    const auto p = forward_pairs(model, b);
    const auto q = forward_pairs(reference, b.to(reference.parameters().front().device()));
    rw.push_back((beta * (p.chosen.sum - q.chosen.sum.to(device))).cpu().to(torch::kFloat64));
    rl.push_back((beta * (p.rejected.sum - q.rejected.sum.to(device))).cpu().to(torch::kFloat64));
    pw.push_back(p.chosen.mean.cpu());
    pl.push_back(p.rejected.mean.cpu());
    qw.push_back(q.chosen.mean.cpu());
    ql.push_back(q.rejected.mean.cpu());
  }
  PreferenceEvalResult r;
  r.pairs = static_cast<int64_t>(pairs.size());
  r.beta = beta;
  if (pairs.empty()) return r;
  const auto w = torch::cat(rw), l = torch::cat(rl);
  r.reward_accuracy = (w > l).to(torch::kFloat64).mean().item<double>();
  r.reward_margin = (w - l).mean().item<double>();
  r.reward_chosen = w.mean().item<double>();
  r.reward_rejected = l.mean().item<double>();
  r.mean_logp_accuracy = (torch::cat(pw) > torch::cat(pl)).to(torch::kFloat64).mean().item<double>();
  r.reference_mean_logp_accuracy = (torch::cat(qw) > torch::cat(ql)).to(torch::kFloat64).mean().item<double>();
  return r;
}

nlohmann::json preference_eval_json(const PreferenceEvalResult& r) {
  return {{"pairs", r.pairs},
          {"beta", r.beta},
          {"rewards/accuracies", r.reward_accuracy},
          {"rewards/margins", r.reward_margin},
          {"rewards/chosen", r.reward_chosen},
          {"rewards/rejected", r.reward_rejected},
          {"mean_logp_accuracy", r.mean_logp_accuracy},
          {"reference_mean_logp_accuracy", r.reference_mean_logp_accuracy}};
}

std::string preference_eval_table(const PreferenceEvalResult& r) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%-30s %lld\n%-30s %.4f\n%-30s %.4f\n%-30s %.4f\n%-30s %.4f\n%-30s %.4f\n%-30s %.4f\n", "pairs",
                static_cast<long long>(r.pairs), "reward accuracy", r.reward_accuracy, "reward margin", r.reward_margin,
                "reward chosen", r.reward_chosen, "reward rejected", r.reward_rejected,
                "mean log-prob accuracy (model)", r.mean_logp_accuracy, "mean log-prob accuracy (ref)",
                r.reference_mean_logp_accuracy);
  return buf;
}

}  // namespace fpokit::fpo
