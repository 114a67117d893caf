#include "fpokit/analysis/drift/causal_check.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_set>

#include "fpokit/analysis/drift/drift_batches.h"
#include "fpokit/analysis/drift/sae_directions.h"
#include "fpokit/analysis/stats/feature_tags.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/model/hooks.h"

namespace fpokit::analysis {

namespace {

// A batch of whole pairs: rows 2i (chosen) and 2i + 1 (rejected).
struct PairBatch {
  DriftBatch batch;
  torch::Tensor target_mask;  // float [B, L-1]: position t + 1 is a completion token
  torch::Tensor kl_mask;      // float [B, L-1]: position t is analysed (prompt once, both completions)
  int64_t pairs = 0;
};

// (chosen, rejected) sequence indices of the first `max_pairs` pairs.
std::vector<std::pair<int64_t, int64_t>> pairs_of(const DriftData& d, int64_t max_pairs) {
  std::vector<std::pair<int64_t, int64_t>> out;
  auto has = [&](int64_t s, TokenGroup g) {
    const auto& groups = d.sequences[static_cast<size_t>(s)].groups;
    return std::find(groups.begin(), groups.end(), g) != groups.end();
  };
  for (size_t i = 0; i + 1 < d.sequences.size() && static_cast<int64_t>(out.size()) < max_pairs; ++i) {
    if (d.sequences[i].unit != d.sequences[i + 1].unit) continue;
    const auto a = static_cast<int64_t>(i), b = static_cast<int64_t>(i + 1);
    if (has(a, TokenGroup::Chosen) && has(b, TokenGroup::Rejected)) out.emplace_back(a, b);
    if (has(b, TokenGroup::Chosen) && has(a, TokenGroup::Rejected)) out.emplace_back(b, a);
    ++i;
  }
  return out;
}

std::vector<PairBatch> make_pair_batches(const DriftData& d, int64_t max_pairs, int64_t batch_size,
                                         const torch::Device& device) {
  const auto pairs = pairs_of(d, max_pairs);
  const int64_t stride = drift_code_stride(d);
  std::vector<PairBatch> out;
  for (size_t start = 0; start < pairs.size(); start += static_cast<size_t>(batch_size)) {
    std::vector<int64_t> rows;
    for (size_t p = start; p < std::min(pairs.size(), start + static_cast<size_t>(batch_size)); ++p) {
      rows.push_back(pairs[p].first);
      rows.push_back(pairs[p].second);
    }
    PairBatch pb;
    pb.batch = make_drift_batch(d, rows, stride, device);
    pb.pairs = static_cast<int64_t>(rows.size()) / 2;
    const int64_t B = pb.batch.rows, L = pb.batch.length;
    std::vector<float> mask(static_cast<size_t>(B * std::max<int64_t>(0, L - 1)), 0.0f);
    for (int64_t r = 0; r < B; ++r)
      for (int64_t t = 1; t < L; ++t) {
        const auto g = static_cast<TokenGroup>(pb.batch.group[r * L + t]);
        if (g == TokenGroup::Chosen || g == TokenGroup::Rejected) mask[r * (L - 1) + t - 1] = 1.0f;
      }
    pb.target_mask = torch::tensor(mask).view({B, L - 1}).to(device);
    // KL at the positions the drift report's KL covers (its split all): the prompt once and both
    // completions, not the rejected sequence's copy of the prompt, special tokens or padding.
    std::vector<float> analysed(mask.size(), 0.0f);
    for (int64_t r = 0; r < B; ++r)
      for (int64_t t = 0; t + 1 < L; ++t) {
        const auto g = static_cast<TokenGroup>(pb.batch.group[r * L + t]);
        if (g == TokenGroup::Prompt || g == TokenGroup::Chosen || g == TokenGroup::Rejected)
          analysed[r * (L - 1) + t] = 1.0f;
      }
    pb.kl_mask = torch::tensor(analysed).view({B, L - 1}).to(device);
    out.push_back(std::move(pb));
  }
  return out;
}

// Completion log-probability per sequence [B] and the next-token log-probabilities [B, L-1, V].
struct Evaluation {
  torch::Tensor sequence_logp, log_probs;
};
Evaluation evaluate(lm::CausalLMImpl& model, const PairBatch& pb, lm::Hooks* hooks) {
  // At least float32 (a float64 model, as in the finite-difference test, keeps float64).
  auto logits = model.forward({pb.batch.ids, pb.batch.attention_mask}, hooks);
  logits = logits.to(torch::promote_types(logits.scalar_type(), torch::kFloat32));
  auto lp = torch::log_softmax(logits.slice(1, 0, -1), -1);
  const auto target = pb.batch.ids.slice(1, 1).unsqueeze(-1);
  const auto token = lp.gather(2, target).squeeze(-1);
  return {(token * pb.target_mask).sum(1), lp};
}

// Per pair: chosen minus rejected log-probability [P].
torch::Tensor preference(const torch::Tensor& sequence_logp) {
  return sequence_logp.slice(0, 0, sequence_logp.size(0), 2) - sequence_logp.slice(0, 1, sequence_logp.size(0), 2);
}

// Sum of KL(p || q) over the completion tokens.
double kl_sum(const torch::Tensor& lp, const torch::Tensor& lq, const torch::Tensor& mask) {
  return ((lp.exp() * (lp - lq)).sum(-1) * mask).sum().item<double>();
}

// Margin, accuracy and KL to the base, summed over batches.
struct Tally {
  double margin = 0, correct = 0, kl = 0;
  void add(const torch::Tensor& margins, double kl_batch) {
    margin += margins.sum().item<double>();
    correct += (margins > 0).sum().item<double>();
    kl += kl_batch;
  }
};

// x -> x + delta(x) at the hook, computed in `dtype` (the SAE's).
lm::Hooks shift_hook(const lm::HookName& hook, torch::ScalarType dtype,
                     const std::function<torch::Tensor(const torch::Tensor& x)>& delta) {
  lm::Hooks h;
  h.on_write(hook, [delta, dtype](const lm::HookName&, const torch::Tensor& a) {
    const auto x = a.to(dtype).reshape({-1, a.size(-1)});
    return (x + delta(x)).reshape(a.sizes()).to(a.scalar_type());
  });
  return h;
}

void check_inputs(const CausalInputs& in) {
  if (in.base == nullptr || in.aligned == nullptr || in.sae == nullptr || in.data == nullptr)
    throw std::logic_error("run_causal_check: base, aligned, sae and data are required");
  if (in.data->kind != "preference")
    throw InputError("--causal needs preference data (prompt/chosen/rejected): give --causal-data FILE");
}

}  // namespace

std::vector<int32_t> draw_control_features(const Eigen::VectorXd& freq_base, const Eigen::VectorXd& freq_aligned,
                                           const std::vector<uint8_t>& tags, const std::vector<int32_t>& exclude,
                                           int64_t n, uint64_t seed) {
  const std::unordered_set<int32_t> excluded(exclude.begin(), exclude.end());
  std::vector<int32_t> eligible;
  for (int64_t f = 0; f < freq_base.size(); ++f)
    if (freq_base[f] > 0 && freq_aligned[f] > 0 &&
        tags[static_cast<size_t>(f)] == static_cast<uint8_t>(stats::FeatureTag::Unchanged) &&
        excluded.count(static_cast<int32_t>(f)) == 0)
      eligible.push_back(static_cast<int32_t>(f));
  std::mt19937_64 rng(seed ^ 0xca05a1ull);
  std::shuffle(eligible.begin(), eligible.end(), rng);
  if (static_cast<int64_t>(eligible.size()) > n) eligible.resize(static_cast<size_t>(n));
  std::sort(eligible.begin(), eligible.end());
  return eligible;
}

double mean_margin_with_feature_scaled(const CausalInputs& in, lm::CausalLMImpl& model, int32_t feature, double scale,
                                       const CausalOptions& o) {
  check_inputs(in);
  torch::NoGradGuard no_grad;
  const auto device = in.base->parameters().front().device();
  const auto direction = raw_decoder_directions(*in.sae)[feature].to(device, in.sae->W_dec.scalar_type());
  double sum = 0;
  int64_t pairs = 0;
  for (const auto& pb : make_pair_batches(*in.data, o.pairs, o.batch_size, device)) {
    const auto base = evaluate(*in.base, pb, nullptr);
    auto h = shift_hook(in.hook, in.sae->W_dec.scalar_type(), [&](const torch::Tensor& x) {
      const auto a = in.sae->encode(in.sae->normalize_input(x)).select(1, feature);
      return (scale - 1.0) * a.unsqueeze(1) * direction.unsqueeze(0);
    });
    const auto m = evaluate(model, pb, &h);
    sum += (preference(m.sequence_logp) - preference(base.sequence_logp)).sum().item<double>();
    pairs += pb.pairs;
  }
  return pairs > 0 ? sum / static_cast<double>(pairs) : 0.0;
}

CausalResult run_causal_check(const CausalInputs& in, const CausalOptions& o) {
  check_inputs(in);
  auto& sae = *in.sae;
  const auto device = in.base->parameters().front().device();
  const auto batches = make_pair_batches(*in.data, o.pairs, o.batch_size, device);
  if (batches.empty()) throw InputError("--causal: the preference data has no complete pair");
  const auto dtype = sae.W_dec.scalar_type();  // hook activations are read and changed in the SAE's dtype
  const auto directions = raw_decoder_directions(sae).to(device, dtype);
  const int64_t F = sae.config().d_sae;
  std::vector<int32_t> all = in.features;
  all.insert(all.end(), in.controls.begin(), in.controls.end());
  const auto n_feat = all.size();

  CausalResult r;
  Tally aligned_tally;
  std::vector<Tally> clamp(n_feat), add(n_feat);
  torch::Tensor attr_aligned = torch::zeros({F}, torch::kFloat64), attr_base = torch::zeros({F}, torch::kFloat64);
  double response_tokens = 0;

  // activation x gradient of the summed margin, with the SAE's reconstruction + error spliced in.
  auto attribution = [&](lm::CausalLMImpl& model, const PairBatch& pb, const torch::Tensor& base_preference) {
    torch::AutoGradMode with_grad(true);  // the caller (run_drift) runs under NoGradGuard
    torch::Tensor leaf;
    lm::Hooks h;
    h.on_write(in.hook, [&](const lm::HookName&, const torch::Tensor& a) {
      const auto x = a.to(dtype).reshape({-1, a.size(-1)}).detach();
      torch::Tensor f0, error;
      {
        torch::NoGradGuard no_grad;
        f0 = sae.encode(sae.normalize_input(x));
        error = x - sae.denormalize_output(sae.decode(f0), x);
      }
      leaf = f0.detach().requires_grad_(true);
      return (sae.denormalize_output(sae.decode(leaf), x) + error).reshape(a.sizes()).to(a.scalar_type());
    });
    const auto e = evaluate(model, pb, &h);
    (preference(e.sequence_logp) - base_preference).sum().backward();
    // Padding positions: no gradient reaches them (right padding, causal attention).
    return (leaf.detach() * leaf.grad()).sum(0).to(torch::kFloat64).cpu();
  };

  for (const auto& pb : batches) {
    torch::Tensor x_base, x_aligned;
    Evaluation base, aligned;
    {
      torch::NoGradGuard no_grad;
      lm::Hooks hb, ha;
      hb.on_read(in.hook, [&](const lm::HookName&, const torch::Tensor& a) {
        x_base = a.to(dtype).reshape({-1, a.size(-1)});
      });
      ha.on_read(in.hook, [&](const lm::HookName&, const torch::Tensor& a) {
        x_aligned = a.to(dtype).reshape({-1, a.size(-1)});
      });
      base = evaluate(*in.base, pb, &hb);
      aligned = evaluate(*in.aligned, pb, &ha);
    }
    const auto base_pref = preference(base.sequence_logp);
    aligned_tally.add(preference(aligned.sequence_logp) - base_pref,
                      kl_sum(aligned.log_probs, base.log_probs, pb.kl_mask));
    response_tokens += pb.kl_mask.sum().item<double>();
    attr_aligned += attribution(*in.aligned, pb, base_pref);
    attr_base += attribution(*in.base, pb, base_pref);

    torch::NoGradGuard no_grad;
    const auto f_base = sae.encode(sae.normalize_input(x_base));
    const auto f_aligned = sae.encode(sae.normalize_input(x_aligned));
    for (size_t j = 0; j < n_feat; ++j) {
      const int32_t f = all[j];
      const auto d = directions[f].unsqueeze(0);
      const auto change = (f_base.select(1, f) - f_aligned.select(1, f)).unsqueeze(1);
      auto hc = shift_hook(in.hook, dtype, [&](const torch::Tensor&) { return change * d; });
      const auto c = evaluate(*in.aligned, pb, &hc);
      clamp[j].add(preference(c.sequence_logp) - base_pref, kl_sum(c.log_probs, base.log_probs, pb.kl_mask));
      const double shift = in.delta_mean.size() > f ? in.delta_mean[f] : 0.0;
      auto hadd = shift_hook(in.hook, dtype, [&](const torch::Tensor&) { return shift * d; });
      const auto b2 = evaluate(*in.base, pb, &hadd);
      add[j].add(preference(b2.sequence_logp) - base_pref, kl_sum(b2.log_probs, base.log_probs, pb.kl_mask));
    }
    r.pairs += pb.pairs;
  }
  const double P = static_cast<double>(r.pairs);
  const double T = std::max(1.0, response_tokens);
  r.response_tokens = static_cast<int64_t>(response_tokens);
  r.margin_aligned = aligned_tally.margin / P;
  r.accuracy_aligned = aligned_tally.correct / P;
  r.kl_aligned = aligned_tally.kl / T;
  const auto* aa = attr_aligned.data_ptr<double>();
  const auto* ab = attr_base.data_ptr<double>();
  for (size_t j = 0; j < n_feat; ++j) {
    CausalFeature cf;
    cf.feature = all[j];
    cf.control = j >= in.features.size();
    cf.rankings = cf.control ? "control" : (j < in.feature_rankings.size() ? in.feature_rankings[j] : "");
    cf.attribution_aligned = aa[all[j]] / P;
    cf.attribution_base = ab[all[j]] / P;
    cf.clamp_margin_change = clamp[j].margin / P - r.margin_aligned;
    cf.clamp_accuracy_change = clamp[j].correct / P - r.accuracy_aligned;
    cf.clamp_kl = clamp[j].kl / T;
    cf.clamp_kl_removed = r.kl_aligned > 0 ? 1.0 - cf.clamp_kl / r.kl_aligned : std::nan("");
    cf.add_margin_change = add[j].margin / P;  // the base's own margin is 0
    cf.add_accuracy_change = add[j].correct / P;
    cf.add_kl = add[j].kl / T;
    r.features.push_back(cf);
  }
  return r;
}

}  // namespace fpokit::analysis
