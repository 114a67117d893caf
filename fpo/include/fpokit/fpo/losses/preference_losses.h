#pragma once
// Preference-optimisation losses (FPO and the DPO family) as pure functions of per-sequence
// tensors. Formulas, sources and where papers and released code differ: docs/methods.md, 'Losses',
// one sub-heading per method (DPO, DPO in TRL, SimPO, TDPO, KTO loss, ORPO, SFT, FPO (paper),
// FPO (released code)); names in parentheses below are those sub-headings.
//
// Inputs are [B] tensors for B pairs (chosen y_w, rejected y_l), usually from sequence_logps();
// the reference's may come from a cache (offline reference). Each loss returns the loss averaged
// over the batch and TRL-named metrics, detached. Per-pair metrics are [B] (reduce with .mean()
// to log as TRL does); batch-level ones (nll_loss, sft_loss, kl) are scalars.
//
//   method  loss per pair                                            reward (detached)   logps/*
//   dpo     -(1-ε)·logσ(βh) - ε·logσ(-βh), h on sums (cDPO)          β(Σlogπ - Σlogπ_ref) sums
//   ipo     (h - 1/(2β))², h on means (DPO in TRL) or sums (DPO)     as dpo              sums
//   hinge   relu(1 - βh) (DPO in TRL)                                as dpo              sums
//   robust  (-(1-ε)·logσ(βh) + ε·logσ(-βh)) / (1-2ε) (DPO in TRL)    as dpo              sums
//   simpo   cDPO form on h = mean_w - mean_l - γ/β, + w_sft·NLL      β·mean logπ          means
//   tdpo1   -logσ(β[(m_w-m_l) - (kl_l-kl_w)]), m = Σ log-ratio       β(m + kl)           sums
//   tdpo2   -logσ(β[(m_w-m_l) - α(kl_l - sg kl_w)])                  β(m + kl)           sums
//   kto     mean over the 2B sequences of λ_D(1-σ(β(r_w-z0))) and    β·r, r = Σ log-ratio sums
//           λ_U(1-σ(β(z0-r_l)))
//   orpo    NLL - λ·mean logσ(log-odds(mean_w) - log-odds(mean_l))   λ·mean logπ          means
//   sft     NLL (TRL's "sft")                                        none                means
//   fpo     -logσ(u), u = β(mean_w - mean_l) - γ_refLN               β(m + D),           means
//           - α(β·D_l - sg(β·D_w)), γ_refLN = β(mean ref_w -         m = mean log-ratio
//           mean ref_l) (paper Eq. 9-11 = the released code's closed form)
// NLL = token-mean cross-entropy over the batch's chosen completion tokens, -Σ sum_w / Σ n_w
// (SimPO's sft term, TRL's sft loss), unless PreferenceInputs::chosen_nll is given.
//
// rewards/accuracies compares the rewards of the same pair (TDPO, TRL, SimPO); the FPO/HALOs code
// compares chosen i with rejected B-1-i (FPO (released code)), a logging quirk we do not reproduce.
// The FPO and TDPO rewards include the constraint term because their code defines them so.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <torch/types.h>

#include "fpokit/fpo/losses/method.h"
#include "fpokit/fpo/training/sequence_logps.h"

namespace fpokit::fpo {

// Everything any loss reads; each loss checks that what it needs is there and [B].
// Only sum, mean and num_tokens of the four SequenceLogps are read.
struct PreferenceInputs {
  SequenceLogps policy_chosen, policy_rejected;
  SequenceLogps reference_chosen, reference_rejected;      // not read by simpo, orpo, sft
  torch::Tensor kl_chosen, kl_rejected;                    // tdpo: SequenceLogps::kl of the policy
  torch::Tensor feature_mse_chosen, feature_mse_rejected;  // fpo: D from feature_mse()
  torch::Tensor kto_reference_point;                       // kto: scalar z0 from kto_reference_point()
  // Optional scalar NLL for simpo (sft_weight > 0), orpo and sft. TRL's ORPO takes the NLL over the
  // chosen prompt *and* completion tokens (ORPO); a caller reproducing that computes it here.
  torch::Tensor chosen_nll;
};

struct LossResult {
  torch::Tensor loss;                            // scalar, with gradient into the policy
  std::map<std::string, torch::Tensor> metrics;  // detached
};

// ---- DPO family (DPO, DPO in TRL) ----
enum class DpoLoss { Sigmoid, Ipo, Hinge, Robust };

struct DpoOptions {
  double beta = 0.1;
  // ε: the cDPO label-noise rate for Sigmoid, the robust-DPO rate for Robust; unused (must be 0)
  // otherwise. Sigmoid: [0, 0.5]; Robust: [0, 0.5) (it divides by 1 - 2ε).
  double label_smoothing = 0.0;
  // IPO on per-token means (TRL, both legacy and HEAD) instead of sums (eric-mitchell, DPO).
  bool ipo_average_logps = true;
  void validate(DpoLoss loss) const;  // ConfigError
};

LossResult dpo_loss(const PreferenceInputs& in, DpoLoss loss, const DpoOptions& options);

// ---- SimPO: reference-free ----
struct SimpoOptions {
  double beta = 2.0;
  // γ/β. 0.5 is the FPO paper's SimPO baseline (Table 5, γ = 0.5 used as β(margin - γ)) and the
  // SimPO README's suggested start; SimPOConfig's own default is 0.25.
  double gamma_beta_ratio = 0.5;
  double sft_weight = 0.0;
  double label_smoothing = 0.0;  // [0, 0.5]
  void validate() const;
};

LossResult simpo_loss(const PreferenceInputs& in, const SimpoOptions& options);

// ---- TDPO ----
enum class TdpoVersion { One, Two };

struct TdpoOptions {
  double beta = 0.1;
  double alpha = 0.5;  // TDPO2 only; TDPO1 has no α
  void validate() const;
};

LossResult tdpo_loss(const PreferenceInputs& in, TdpoVersion version, const TdpoOptions& options);

// ---- KTO (KTO loss): chosen = desirable, rejected = undesirable ----
struct KtoOptions {
  double beta = 0.1;
  double desirable_weight = 1.0;
  double undesirable_weight = 1.0;
  void validate() const;
};

// z0 = max(0, mean(logπ - logπ_ref)) over mismatched (prompt, completion) sequences, detached.
// TRL pairs prompt i with completion i-1 within each batch (torch::roll(completions, 1, 0)) and
// gathers the mean across ranks; both are the caller's. Inputs: summed log-probs [N].
torch::Tensor kto_reference_point(const torch::Tensor& policy_mismatched_logps,
                                  const torch::Tensor& reference_mismatched_logps);

LossResult kto_loss(const PreferenceInputs& in, const KtoOptions& options);

// ---- ORPO: reference-free ----
// Which tokens ORPO's NLL term averages over: TRL's ORPOTrainer takes the chosen sequence's prompt
// *and* completion tokens (labels wherever attention_mask is 1; docs/methods.md, 'ORPO'), the
// default; Completion takes only the completion, like SimPO's sft term.
enum class OrpoNll { Sequence, Completion };
std::string_view orpo_nll_name(OrpoNll n);      // "sequence", "completion"
OrpoNll parse_orpo_nll(std::string_view name);  // ConfigError

struct OrpoOptions {
  double lambda = 0.1;  // TRL's `beta`
  OrpoNll nll = OrpoNll::Sequence;
  void validate() const;
};

LossResult orpo_loss(const PreferenceInputs& in, const OrpoOptions& options);

// ---- SFT: the NLL of the chosen completions ----
LossResult sft_loss(const PreferenceInputs& in);

// ---- FPO: see FPO (paper), FPO (released code) and the side-by-side table after them ----
// The paper and the released code differ in how D is computed; the loss given D is the same.
// Paper: pool over the n completion positions, D over topk(policy) ∪ topk(ref).
// ReleasedCode: pool dividing by the padded length T-1 (so D depends on the batch's padding),
// D over topk(policy) only with the reference gathered there. (The released code also feeds the
// final-normed last hidden state to the SAE (docs/methods.md, 'FPO: the paper and the released code,
// side by side'): a harvesting choice, not made here.)
enum class FpoVariant { Paper, ReleasedCode };

std::string_view fpo_variant_name(FpoVariant v);      // "paper", "released"
FpoVariant parse_fpo_variant(std::string_view name);  // ConfigError

struct FpoOptions {
  double beta = 0.1;
  double alpha = 0.5;
  int64_t top_k = 50;  // hard-coded in the released code; the paper does not state k
  FpoVariant variant = FpoVariant::Paper;
  void validate() const;
};

// Average-pools per-token SAE features [B, T, F] over the positions whose next-token log-probs
// enter the loss: features[:, :-1] under completion_mask[:, 1:] (the positions of TDPO's
// per-position KL, which D replaces). Paper: divided by the number of completion tokens (1 when
// there are none); ReleasedCode: by T-1. Float32 at least. Throws std::invalid_argument on shapes.
torch::Tensor pool_features(const torch::Tensor& features, const torch::Tensor& completion_mask, FpoVariant variant);

// D per sequence [B] from pooled features [B, F] (the reference's without gradient):
//   D = (1/k) Σ_{i ∈ I} (policy_i - reference_i)²,
//   I = topk(policy) ∪ topk(reference) (Paper, Eq. 10: up to 2k indices, still divided by k
//       as printed) or topk(policy) (ReleasedCode: exactly k, i.e. the mean over them).
// Gradient flows into the policy's selected values (the selection itself is piecewise constant).
// Throws ConfigError when k is not in [1, F].
torch::Tensor feature_mse(const torch::Tensor& policy_pooled, const torch::Tensor& reference_pooled, int64_t k,
                          FpoVariant variant);
// The index set I of feature_mse as a [B, F] bool mask (what FPO constrains for each sequence).
torch::Tensor feature_selection(const torch::Tensor& policy_pooled, const torch::Tensor& reference_pooled, int64_t k,
                                FpoVariant variant);

LossResult fpo_loss(const PreferenceInputs& in, const FpoOptions& options);

// ---- one entry point for the trainer ----
struct PreferenceLossOptions {
  DpoOptions dpo;  // dpo, ipo, hinge, robust
  SimpoOptions simpo;
  TdpoOptions tdpo;
  KtoOptions kto;
  OrpoOptions orpo;
  FpoOptions fpo;
  void validate(Method method) const;  // validates the options `method` reads
};

LossResult preference_loss(Method method, const PreferenceInputs& in, const PreferenceLossOptions& options);

}  // namespace fpokit::fpo
