#pragma once
// The logit lens of SAE decoder directions: which tokens a feature's decoder row promotes and
// suppresses when read out directly,
//   logits(d) = (d ⊙ γ) W_Uᵀ
// with γ the final norm's weight (Gemma-2: 1 + weight) and W_U the unembedding (the tied input
// embedding when there is no separate one), each taken from the model being read. Norm biases and
// the norm's division by the residual scale are left out: they shift or scale every token alike
// for a direction, and the ranking is what the lens is for. Gemma-2's final soft-capping is not
// applied (it is monotone).
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "fpokit/lm/model/causal_lm.h"

namespace fpokit::analysis {

struct LogitLensTable {
  int64_t k = 0;
  // [n_directions, k], row-major; ids of the k largest logits (promoted) and the k smallest
  // (suppressed, most negative first), with their values.
  std::vector<int64_t> promoted_ids, suppressed_ids;
  std::vector<float> promoted_values, suppressed_values;
};

// The final norm's effective weight γ and the unembedding [vocab, d_model] of `model`, by the
// architecture's HF parameter names (a table in logit_lens.cpp). Throws InputError when the model
// has neither.
torch::Tensor final_norm_scale(const lm::CausalLMImpl& model);
torch::Tensor unembedding(const lm::CausalLMImpl& model);

// directions [n, d_model] (raw residual space).
LogitLensTable logit_lens(const lm::CausalLMImpl& model, const torch::Tensor& directions, int64_t k);

}  // namespace fpokit::analysis
