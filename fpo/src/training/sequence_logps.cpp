#include "fpokit/fpo/training/sequence_logps.h"

#include <sstream>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "fpokit/lm/model/log_probs.h"

namespace fpokit::fpo {

namespace {

std::string shape_of(const torch::Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

void check_shapes(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& completion_mask,
                  const torch::Tensor& reference_logits) {
  const std::string w = "sequence_logps: ";
  if (!logits.defined() || logits.dim() != 3 || !logits.is_floating_point())
    throw std::invalid_argument(w + "logits must be a floating [B, T, V] tensor, got " + shape_of(logits));
  const int64_t B = logits.size(0), T = logits.size(1);
  if (T < 2)
    throw std::invalid_argument(w + "sequences need at least 2 positions to score a token, got T=" + std::to_string(T));
  for (const auto* t : {&labels, &completion_mask}) {
    if (!t->defined() || t->dim() != 2 || t->size(0) != B || t->size(1) != T)
      throw std::invalid_argument(w + (t == &labels ? "labels" : "completion_mask") + " must be [B, T] = [" +
                                  std::to_string(B) + ", " + std::to_string(T) + "], got " + shape_of(*t));
  }
  if (labels.is_floating_point()) throw std::invalid_argument(w + "labels must be integer token ids");
  if (reference_logits.defined() && reference_logits.sizes() != logits.sizes())
    throw std::invalid_argument(w + "reference logits " + shape_of(reference_logits) +
                                " do not match the policy logits " + shape_of(logits));
}

}  // namespace

torch::ScalarType logps_compute_dtype(torch::ScalarType t) { return lm::log_prob_dtype(t); }

SequenceLogps sequence_logps(const torch::Tensor& logits, const torch::Tensor& labels,
                             const torch::Tensor& completion_mask, const torch::Tensor& reference_logits) {
  check_shapes(logits, labels, completion_mask, reference_logits);
  const auto dtype = logps_compute_dtype(logits.scalar_type());
  const int64_t T = logits.size(1), V = logits.size(2);

  SequenceLogps out;
  out.mask = completion_mask.slice(1, 1).to(logits.device(), dtype);
  // Prompt and padding labels (often -100) would index out of range: gather token 0 there instead;
  // the mask zeroes it. The range check costs one host sync; on CUDA an out-of-range gather is a
  // device-side assert that takes the whole process down instead of an exception.
  auto targets = labels.slice(1, 1).to(logits.device(), torch::kLong);
  targets = torch::where(out.mask != 0, targets, torch::zeros_like(targets));
  if (((targets < 0) | (targets >= V)).any().item<bool>())
    throw std::invalid_argument("sequence_logps: a completion label is outside the vocabulary [0, " +
                                std::to_string(V) + ")");

  const auto logp = lm::log_probs(logits.slice(1, 0, T - 1));
  out.token_logps = lm::gather_log_probs(logp, targets) * out.mask;
  out.sum = out.token_logps.sum(-1);
  out.num_tokens = out.mask.sum(-1);
  out.mean = out.sum / out.num_tokens.clamp_min(1.0);

  if (reference_logits.defined()) {
    // KL_t = Σ_v p_ref (log p_ref − log π) (docs/methods.md, 'Conventions'). The reference code takes
    // log(softmax(ref)); that equals log_softmax up to rounding, but gives 0·(−inf) = NaN where p_ref
    // underflows to 0. The reference's log-probs are in the policy's compute dtype.
    const auto ref_logp = lm::log_probs(reference_logits.detach().slice(1, 0, T - 1).to(dtype));
    const auto kl_t = lm::kl_divergence(ref_logp, logp);
    out.kl = (kl_t * out.mask).sum(-1);
  }
  return out;
}

}  // namespace fpokit::fpo
