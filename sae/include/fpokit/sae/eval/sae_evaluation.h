#pragma once
// `fpokit sae eval`: how well an SAE stands in for the activation it was trained on
// (docs/sae.md, 'Evaluation metrics').
// On context rows of a text corpus (packed as for training), per batch three forwards, as
// SAELens's get_recons_loss: clean; spliced (the hook's activation replaced by the SAE
// reconstruction at non-special tokens); zero-ablated (replaced by zeros at every position, BOS
// included, as SAELens's standard_zero_ablate_hook). CE and KL count positions whose input token
// is not special (and, for CE, that have a next token), pooled over all batches.
//   ce_loss_recovered = (CE_zero − CE_sae) / (CE_zero − CE_clean)
//   kl_div_score      = (KL_zero − KL_sae) / KL_zero,  KL(p_clean ‖ p_new) per token (SAELens)
// Reconstruction metrics pool all evaluated tokens in raw activation space (sae_metrics.h): L0,
// FVU, MSE, cosine, dead fraction (never fired) and dense fraction (fired on > dense_threshold of
// tokens), and a histogram of log10 feature density.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/hook_name.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::sae {

struct EvalOptions {
  int64_t tokens = 65536;    // context-row tokens to evaluate (rounded up to whole rows)
  int64_t context_size = 0;  // 0: the SAE's training context, else lm::resolve_context_size's default
  int64_t batch_sequences = 8;
  double dense_threshold = 0.1;  // dense = fires on more than this fraction of tokens
  std::string text_field = "text";
  std::string split;          // a dataset folder's split; empty for a file
  bool model_metrics = true;  // CE/KL (three forwards); false: reconstruction metrics only
};

struct EvalResult {
  std::string hook;
  int64_t tokens = 0;  // evaluated (non-special) tokens
  int64_t sequences = 0;
  double l0 = 0, fvu = 0, mse = 0, cosine = 0;
  double dead_fraction = 0, dense_fraction = 0, dense_threshold = 0;
  // Model metrics (NaN when not computed).
  double ce_clean = 0, ce_sae = 0, ce_zero = 0, ce_loss_recovered = 0;
  double kl_sae = 0, kl_zero = 0, kl_div_score = 0;
  // Feature density histogram: bin_edges[i] <= log10(density) < bin_edges[i+1]; latents that never
  // fired are counted in `never_fired` instead.
  std::vector<double> density_bin_edges;
  std::vector<int64_t> density_counts;
  int64_t never_fired = 0;
};

// Throws InputError when the SAE's d_in does not match the model's width at `hook`, the hook is
// not in the model, or the data yields no token.
EvalResult evaluate_sae(const lm::CausalLM& model, const lm::Tokenizer& tokenizer, const SparseAutoencoderImpl& sae,
                        const lm::HookName& hook, const std::filesystem::path& data, const EvalOptions& options,
                        const std::function<void(int64_t tokens_done)>& progress = {});

nlohmann::json eval_result_json(const EvalResult& r);
std::string eval_result_table(const EvalResult& r);

}  // namespace fpokit::sae
