#include "fpokit/fpo/losses/preference_losses.h"

#include <array>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <torch/torch.h>

#include "fpokit/core/errors.h"

namespace fpokit::fpo {

namespace {

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// Option checks: ConfigError "<method>: <what>, got <value>".
void require_option(bool ok, std::string_view method, std::string_view what, double value) {
  if (!ok) throw ConfigError(std::string(method) + ": " + std::string(what) + ", got " + format_number(value));
}
void require_positive(double v, std::string_view method, std::string_view name) {
  require_option(std::isfinite(v) && v > 0, method, std::string(name) + " must be positive and finite", v);
}
void require_non_negative(double v, std::string_view method, std::string_view name) {
  require_option(std::isfinite(v) && v >= 0, method, std::string(name) + " must be non-negative and finite", v);
}

// The [B] tensors one loss reads: present, 1-D, the same non-zero B. Missing or mis-shaped inputs
// are the caller's bug, hence std::invalid_argument rather than an InputError.
class InputCheck {
 public:
  explicit InputCheck(std::string_view method) : method_(method) {}

  const torch::Tensor& operator()(const torch::Tensor& t, std::string_view name) {
    if (!t.defined()) fail(name, "is missing");
    if (t.dim() != 1 || t.size(0) == 0 || (batch_ >= 0 && t.size(0) != batch_))
      fail(name, "has shape " + shape_of(t) + ", expected [B] with B > 0" +
                     (batch_ >= 0 ? " = " + std::to_string(batch_) : std::string()));
    batch_ = t.size(0);
    return t;
  }

  const torch::Tensor& scalar(const torch::Tensor& t, std::string_view name) {
    if (!t.defined()) fail(name, "is missing");
    if (t.numel() != 1) fail(name, "has shape " + shape_of(t) + ", expected a scalar");
    return t;
  }

 private:
  [[noreturn]] void fail(std::string_view name, const std::string& what) const {
    throw std::invalid_argument(method_ + " loss: input " + std::string(name) + " " + what);
  }
  std::string method_;
  int64_t batch_ = -1;
};

// -(1-ε)·logσ(x) - ε·logσ(-x): cDPO's label-noise-aware sigmoid loss; ε = 0 is plain DPO.
torch::Tensor smoothed_sigmoid_loss(const torch::Tensor& x, double eps) {
  if (eps == 0.0) return -torch::log_sigmoid(x);
  return -(1.0 - eps) * torch::log_sigmoid(x) - eps * torch::log_sigmoid(-x);
}

// rewards/* (detached, paired) and logps/*.
std::map<std::string, torch::Tensor> paired_metrics(const torch::Tensor& chosen_reward,
                                                    const torch::Tensor& rejected_reward, const torch::Tensor& logps_w,
                                                    const torch::Tensor& logps_l) {
  const auto cr = chosen_reward.detach(), rr = rejected_reward.detach();
  return {{"rewards/chosen", cr},
          {"rewards/rejected", rr},
          {"rewards/accuracies", (cr > rr).to(cr.scalar_type())},
          {"rewards/margins", cr - rr},
          {"logps/chosen", logps_w.detach()},
          {"logps/rejected", logps_l.detach()}};
}

// Token-mean NLL of the batch's chosen completions, or the caller's.
torch::Tensor chosen_nll(const PreferenceInputs& in, InputCheck& need) {
  if (in.chosen_nll.defined()) return need.scalar(in.chosen_nll, "chosen_nll").reshape({});
  const auto& sum = need(in.policy_chosen.sum, "policy_chosen.sum");
  const auto& n = need(in.policy_chosen.num_tokens, "policy_chosen.num_tokens");
  return -sum.sum() / n.sum();
}

// log(1 - e^x) for x < 0, accurate on both sides of -ln 2 (docs/methods.md, 'ORPO').
torch::Tensor log1mexp(const torch::Tensor& x) {
  return torch::where(x > -std::log(2.0), torch::log(-torch::expm1(x)), torch::log1p(-torch::exp(x)));
}

std::string_view dpo_method(DpoLoss loss) {
  switch (loss) {
    case DpoLoss::Sigmoid: return "dpo";
    case DpoLoss::Ipo: return "ipo";
    case DpoLoss::Hinge: return "hinge";
    case DpoLoss::Robust: return "robust";
  }
  return "?";
}

}  // namespace

// ---- DPO family ----

void DpoOptions::validate(DpoLoss loss) const {
  const auto m = dpo_method(loss);
  require_positive(beta, m, "beta");
  const double eps = label_smoothing;
  if (loss == DpoLoss::Sigmoid) require_option(eps >= 0 && eps <= 0.5, m, "label_smoothing must be in [0, 0.5]", eps);
  else if (loss == DpoLoss::Robust)
    require_option(eps >= 0 && eps < 0.5, m, "label_smoothing must be in [0, 0.5) (robust divides by 1 - 2ε)", eps);
  else require_option(eps == 0, m, "label_smoothing is only used by dpo (cDPO) and robust; set it to 0", eps);
}

LossResult dpo_loss(const PreferenceInputs& in, DpoLoss loss, const DpoOptions& o) {
  o.validate(loss);
  InputCheck need(dpo_method(loss));
  const auto& pc = need(in.policy_chosen.sum, "policy_chosen.sum");
  const auto& pr = need(in.policy_rejected.sum, "policy_rejected.sum");
  const auto& rc = need(in.reference_chosen.sum, "reference_chosen.sum");
  const auto& rr = need(in.reference_rejected.sum, "reference_rejected.sum");
  const double beta = o.beta, eps = o.label_smoothing;

  torch::Tensor h = (pc - rc) - (pr - rr);
  if (loss == DpoLoss::Ipo && o.ipo_average_logps)
    h = (need(in.policy_chosen.mean, "policy_chosen.mean") - need(in.reference_chosen.mean, "reference_chosen.mean")) -
        (need(in.policy_rejected.mean, "policy_rejected.mean") -
         need(in.reference_rejected.mean, "reference_rejected.mean"));

  torch::Tensor losses;
  switch (loss) {
    case DpoLoss::Sigmoid: losses = smoothed_sigmoid_loss(beta * h, eps); break;
    case DpoLoss::Ipo: losses = (h - 1.0 / (2.0 * beta)).square(); break;
    case DpoLoss::Hinge: losses = torch::relu(1.0 - beta * h); break;
    case DpoLoss::Robust:
      losses = (-(1.0 - eps) * torch::log_sigmoid(beta * h) + eps * torch::log_sigmoid(-beta * h)) / (1.0 - 2.0 * eps);
      break;
  }
  // TRL logs the summed reverse-KL log-ratio as the reward whatever the loss (docs/methods.md,
  // 'DPO in TRL').
  return {losses.mean(), paired_metrics(beta * (pc - rc), beta * (pr - rr), pc, pr)};
}

// ---- SimPO ----

void SimpoOptions::validate() const {
  require_positive(beta, "simpo", "beta");
  require_option(std::isfinite(gamma_beta_ratio), "simpo", "gamma_beta_ratio must be finite", gamma_beta_ratio);
  require_non_negative(sft_weight, "simpo", "sft_weight");
  require_option(label_smoothing >= 0 && label_smoothing <= 0.5, "simpo", "label_smoothing must be in [0, 0.5]",
                 label_smoothing);
}

LossResult simpo_loss(const PreferenceInputs& in, const SimpoOptions& o) {
  o.validate();
  InputCheck need("simpo");
  const auto& w = need(in.policy_chosen.mean, "policy_chosen.mean");
  const auto& l = need(in.policy_rejected.mean, "policy_rejected.mean");
  const auto h = w - l - o.gamma_beta_ratio;
  LossResult r{smoothed_sigmoid_loss(o.beta * h, o.label_smoothing).mean(),
               paired_metrics(o.beta * w, o.beta * l, w, l)};
  if (o.sft_weight > 0) {
    const auto nll = chosen_nll(in, need);
    r.loss = r.loss + o.sft_weight * nll;
    r.metrics["sft_loss"] = nll.detach();
  }
  return r;
}

// ---- TDPO ----

void TdpoOptions::validate() const {
  require_positive(beta, "tdpo", "beta");
  require_non_negative(alpha, "tdpo", "alpha");
}

LossResult tdpo_loss(const PreferenceInputs& in, TdpoVersion version, const TdpoOptions& o) {
  o.validate();
  InputCheck need(version == TdpoVersion::One ? "tdpo1" : "tdpo2");
  const auto& pc = need(in.policy_chosen.sum, "policy_chosen.sum");
  const auto& pr = need(in.policy_rejected.sum, "policy_rejected.sum");
  const auto m_w = pc - need(in.reference_chosen.sum, "reference_chosen.sum");
  const auto m_l = pr - need(in.reference_rejected.sum, "reference_rejected.sum");
  const auto& kl_w = need(in.kl_chosen, "kl_chosen");
  const auto& kl_l = need(in.kl_rejected, "kl_rejected");
  // TDPO2 stops the gradient of the chosen KL only: the rejected sequence is pushed away from the
  // reference, the chosen one is not pulled back towards it.
  const auto z =
      version == TdpoVersion::One ? (m_w - m_l) - (kl_l - kl_w) : (m_w - m_l) - o.alpha * (kl_l - kl_w.detach());
  LossResult r{(-torch::log_sigmoid(o.beta * z)).mean(),
               paired_metrics(o.beta * (m_w + kl_w), o.beta * (m_l + kl_l), pc, pr)};
  r.metrics["kl/chosen"] = kl_w.detach();
  r.metrics["kl/rejected"] = kl_l.detach();
  return r;
}

// ---- KTO ----

void KtoOptions::validate() const {
  require_positive(beta, "kto", "beta");
  require_non_negative(desirable_weight, "kto", "desirable_weight");
  require_non_negative(undesirable_weight, "kto", "undesirable_weight");
}

torch::Tensor kto_reference_point(const torch::Tensor& policy_mismatched_logps,
                                  const torch::Tensor& reference_mismatched_logps) {
  InputCheck need("kto reference point");
  const auto& p = need(policy_mismatched_logps, "policy_mismatched_logps");
  const auto& r = need(reference_mismatched_logps, "reference_mismatched_logps");
  return (p.detach() - r.detach()).mean().clamp_min(0.0);
}

LossResult kto_loss(const PreferenceInputs& in, const KtoOptions& o) {
  o.validate();
  // Unpaired: the desirable (chosen) and undesirable (rejected) sequences of a batch come in any
  // numbers, either possibly zero, but not both.
  auto side = [](const SequenceLogps& policy, const SequenceLogps& reference, const char* name) {
    const std::string n(name);
    if (!policy.sum.defined() || !reference.sum.defined())
      throw std::invalid_argument("kto loss: input " + n + " sums are missing");
    if (policy.sum.dim() != 1 || reference.sum.sizes() != policy.sum.sizes())
      throw std::invalid_argument("kto loss: input " + n + " sums have shapes " + shape_of(policy.sum) + " and " +
                                  shape_of(reference.sum) + ", expected equal [B]");
    return policy.sum - reference.sum;
  };
  const auto r_w = side(in.policy_chosen, in.reference_chosen, "chosen (desirable)");
  const auto r_l = side(in.policy_rejected, in.reference_rejected, "rejected (undesirable)");
  if (r_w.numel() + r_l.numel() == 0) throw std::invalid_argument("kto loss: the batch has no sequences");
  InputCheck need("kto");
  const auto z0 = need.scalar(in.kto_reference_point, "kto_reference_point").detach().reshape({});
  const auto desirable = 1.0 - torch::sigmoid(o.beta * (r_w - z0));
  const auto undesirable = 1.0 - torch::sigmoid(o.beta * (z0 - r_l));
  // One mean over all sequences (TRL's nanmean of the concatenation), not a mean of two means.
  const auto loss = torch::cat({o.desirable_weight * desirable, o.undesirable_weight * undesirable}).mean();
  // TRL's KTO metrics: no accuracies (nothing is paired); margins = mean chosen - mean rejected.
  LossResult r{loss, {}};
  if (r_w.numel() > 0) {
    r.metrics["rewards/chosen"] = (o.beta * r_w).detach();
    r.metrics["logps/chosen"] = in.policy_chosen.sum.detach();
  }
  if (r_l.numel() > 0) {
    r.metrics["rewards/rejected"] = (o.beta * r_l).detach();
    r.metrics["logps/rejected"] = in.policy_rejected.sum.detach();
  }
  if (r_w.numel() > 0 && r_l.numel() > 0) r.metrics["rewards/margins"] = (o.beta * (r_w.mean() - r_l.mean())).detach();
  r.metrics["kl"] = z0;
  return r;
}

// ---- ORPO ----

void OrpoOptions::validate() const { require_non_negative(lambda, "orpo", "lambda"); }

std::string_view orpo_nll_name(OrpoNll n) { return n == OrpoNll::Sequence ? "sequence" : "completion"; }

OrpoNll parse_orpo_nll(std::string_view name) {
  if (name == "sequence") return OrpoNll::Sequence;
  if (name == "completion") return OrpoNll::Completion;
  throw ConfigError("--orpo-nll: unknown value \"" + std::string(name) +
                    "\" (valid: sequence = prompt and completion tokens, as TRL; completion)");
}

LossResult orpo_loss(const PreferenceInputs& in, const OrpoOptions& o) {
  o.validate();
  InputCheck need("orpo");
  const auto& w = need(in.policy_chosen.mean, "policy_chosen.mean");
  const auto& l = need(in.policy_rejected.mean, "policy_rejected.mean");
  // log odds(p) = log p - log(1 - p) with log p the per-token mean log-prob.
  const auto log_odds = (w - l) - (log1mexp(w) - log1mexp(l));
  const auto ratio = torch::log_sigmoid(log_odds);
  const auto nll = chosen_nll(in, need);
  LossResult r{nll - (o.lambda * ratio).mean(), paired_metrics(o.lambda * w, o.lambda * l, w, l)};
  r.metrics["log_odds_ratio"] = ratio.detach();
  r.metrics["log_odds_chosen"] = log_odds.detach();
  r.metrics["nll_loss"] = nll.detach();
  return r;
}

// ---- SFT ----

LossResult sft_loss(const PreferenceInputs& in) {
  InputCheck need("sft");
  LossResult r;
  r.loss = chosen_nll(in, need);
  r.metrics["nll_loss"] = r.loss.detach();
  if (in.policy_chosen.mean.defined())
    r.metrics["logps/chosen"] = need(in.policy_chosen.mean, "policy_chosen.mean").detach();
  if (in.policy_rejected.mean.defined())
    r.metrics["logps/rejected"] = need(in.policy_rejected.mean, "policy_rejected.mean").detach();
  return r;
}

// ---- FPO ----

std::string_view fpo_variant_name(FpoVariant v) { return v == FpoVariant::Paper ? "paper" : "released"; }

FpoVariant parse_fpo_variant(std::string_view name) {
  if (name == "paper") return FpoVariant::Paper;
  if (name == "released") return FpoVariant::ReleasedCode;
  throw ConfigError("unknown FPO variant \"" + std::string(name) + "\" (valid: paper|released)");
}

void FpoOptions::validate() const {
  require_positive(beta, "fpo", "beta");
  require_non_negative(alpha, "fpo", "alpha");
  require_option(top_k >= 1, "fpo", "top_k must be at least 1", static_cast<double>(top_k));
}

torch::Tensor pool_features(const torch::Tensor& features, const torch::Tensor& completion_mask, FpoVariant variant) {
  if (!features.defined() || features.dim() != 3 || !features.is_floating_point() || features.size(1) < 2)
    throw std::invalid_argument("pool_features: features must be a floating [B, T, F] tensor with T >= 2, got " +
                                (features.defined() ? shape_of(features) : std::string("(undefined)")));
  const int64_t B = features.size(0), T = features.size(1);
  if (!completion_mask.defined() || completion_mask.dim() != 2 || completion_mask.size(0) != B ||
      completion_mask.size(1) != T)
    throw std::invalid_argument("pool_features: completion_mask must be [B, T] = [" + std::to_string(B) + ", " +
                                std::to_string(T) + "], got " +
                                (completion_mask.defined() ? shape_of(completion_mask) : std::string("(undefined)")));
  const auto dtype = logps_compute_dtype(features.scalar_type());
  const auto m = completion_mask.slice(1, 1).to(features.device(), dtype);  // [B, T-1]
  // A batched mat-vec instead of features * mask: no [B, T, F] temporary (F is 16k for Gemma Scope).
  const auto sum = torch::bmm(m.unsqueeze(1), features.slice(1, 0, T - 1).to(dtype)).squeeze(1);  // [B, F]
  if (variant == FpoVariant::ReleasedCode) return sum / static_cast<double>(T - 1);
  return sum / m.sum(1, true).clamp_min(1.0);
}

torch::Tensor feature_selection(const torch::Tensor& policy_pooled, const torch::Tensor& reference_pooled, int64_t k,
                                FpoVariant variant) {
  if (!policy_pooled.defined() || policy_pooled.dim() != 2 || !reference_pooled.defined() ||
      reference_pooled.sizes() != policy_pooled.sizes())
    throw std::invalid_argument("feature_mse: pooled features must be [B, F] for both models, got " +
                                (policy_pooled.defined() ? shape_of(policy_pooled) : std::string("(undefined)")) +
                                " and " +
                                (reference_pooled.defined() ? shape_of(reference_pooled) : std::string("(undefined)")));
  const int64_t F = policy_pooled.size(1);
  if (k < 1 || k > F)
    throw ConfigError("fpo: top_k must be in [1, " + std::to_string(F) + "] (the SAE width), got " + std::to_string(k));
  const auto ref = reference_pooled.detach().to(policy_pooled.scalar_type());
  // Selection as a [B, F] 0/1 mask, so that the union of two top-k sets counts each index once.
  auto selected = torch::zeros_like(policy_pooled, torch::kBool);
  selected.scatter_(1, std::get<1>(policy_pooled.detach().topk(k, 1)), true);
  if (variant == FpoVariant::Paper) selected.scatter_(1, std::get<1>(ref.topk(k, 1)), true);
  return selected;
}

torch::Tensor feature_mse(const torch::Tensor& policy_pooled, const torch::Tensor& reference_pooled, int64_t k,
                          FpoVariant variant) {
  const auto selected = feature_selection(policy_pooled, reference_pooled, k, variant);
  const auto ref = reference_pooled.detach().to(policy_pooled.scalar_type());
  return ((policy_pooled - ref).square() * selected).sum(1) / static_cast<double>(k);
}

LossResult fpo_loss(const PreferenceInputs& in, const FpoOptions& o) {
  o.validate();
  InputCheck need("fpo");
  const auto& w = need(in.policy_chosen.mean, "policy_chosen.mean");
  const auto& l = need(in.policy_rejected.mean, "policy_rejected.mean");
  const auto& ref_w = need(in.reference_chosen.mean, "reference_chosen.mean");
  const auto& ref_l = need(in.reference_rejected.mean, "reference_rejected.mean");
  const auto& d_w = need(in.feature_mse_chosen, "feature_mse_chosen");
  const auto& d_l = need(in.feature_mse_rejected, "feature_mse_rejected");
  const double beta = o.beta;
  const auto gamma_ref_ln = beta * ref_w - beta * ref_l;              // Eq. 9
  const auto delta = o.alpha * (beta * d_l - (beta * d_w).detach());  // Eq. 11, sg on the chosen
  const auto u = beta * w - beta * l - gamma_ref_ln - delta;
  LossResult r{(-torch::log_sigmoid(u)).mean(),
               paired_metrics(beta * (w - ref_w + d_w), beta * (l - ref_l + d_l), w, l)};
  r.metrics["fpo/feature_mse/chosen"] = d_w.detach();
  r.metrics["fpo/feature_mse/rejected"] = d_l.detach();
  return r;
}

// ---- dispatch ----

void PreferenceLossOptions::validate(Method method) const {
  switch (method) {
    case Method::Fpo: fpo.validate(); return;
    case Method::Dpo: dpo.validate(DpoLoss::Sigmoid); return;
    case Method::Ipo: dpo.validate(DpoLoss::Ipo); return;
    case Method::Hinge: dpo.validate(DpoLoss::Hinge); return;
    case Method::Robust: dpo.validate(DpoLoss::Robust); return;
    case Method::Simpo: simpo.validate(); return;
    case Method::Tdpo1:
    case Method::Tdpo2: tdpo.validate(); return;
    case Method::Kto: kto.validate(); return;
    case Method::Orpo: orpo.validate(); return;
    case Method::Sft: return;
  }
}

LossResult preference_loss(Method method, const PreferenceInputs& in, const PreferenceLossOptions& o) {
  switch (method) {
    case Method::Fpo: return fpo_loss(in, o.fpo);
    case Method::Dpo: return dpo_loss(in, DpoLoss::Sigmoid, o.dpo);
    case Method::Ipo: return dpo_loss(in, DpoLoss::Ipo, o.dpo);
    case Method::Hinge: return dpo_loss(in, DpoLoss::Hinge, o.dpo);
    case Method::Robust: return dpo_loss(in, DpoLoss::Robust, o.dpo);
    case Method::Simpo: return simpo_loss(in, o.simpo);
    case Method::Tdpo1: return tdpo_loss(in, TdpoVersion::One, o.tdpo);
    case Method::Tdpo2: return tdpo_loss(in, TdpoVersion::Two, o.tdpo);
    case Method::Kto: return kto_loss(in, o.kto);
    case Method::Orpo: return orpo_loss(in, o.orpo);
    case Method::Sft: return sft_loss(in);
  }
  throw std::invalid_argument("preference_loss: unknown method");
}

}  // namespace fpokit::fpo
