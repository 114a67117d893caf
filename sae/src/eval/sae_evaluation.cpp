#include "fpokit/sae/eval/sae_evaluation.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/log_probs.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/context_packer.h"
#include "fpokit/sae/data/text_dataset.h"
#include "fpokit/sae/eval/sae_metrics.h"

namespace fpokit::sae {

EvalResult evaluate_sae(const lm::CausalLM& model, const lm::Tokenizer& tokenizer, const SparseAutoencoderImpl& sae,
                        const lm::HookName& hook, const std::filesystem::path& data, const EvalOptions& options,
                        const std::function<void(int64_t)>& progress) {
  {
    lm::Hooks check;
    check.capture(hook);
    check.validate(model->config(), model->has_resid_mid());
  }
  if (sae.config().d_in != model->config().hidden_size)
    throw InputError("the SAE has d_in " + std::to_string(sae.config().d_in) + " but " + hook.str() +
                     " of this model is " + std::to_string(model->config().hidden_size) +
                     " wide: was it trained on another model?");
  const auto context = lm::resolve_context_size(model->config(), options.context_size, sae.config().context_size);
  const int64_t context_size = context.tokens;
  const auto device = model->parameters().front().device();
  const auto sae_device = sae.W_enc.device();

  // Special tokens (and the packer's row-start separator) are neither replaced nor counted.
  TextDataset dataset(data, options.text_field, options.split);
  ContextPacker packer(dataset, tokenizer, context_size);
  auto special = torch::zeros({std::max<int64_t>(model->config().vocab_size, tokenizer.vocab_size())}, torch::kBool);
  for (int64_t id = 0; id < tokenizer.vocab_size(); ++id)
    if (tokenizer.is_special(id)) special[id] = true;
  special[packer.separator_id()] = true;
  special = special.to(device);
  if (!context.note.empty()) core::log::info(context.note);  // after the checks above

  ReconstructionMetrics metrics;
  double ce_sums[3] = {0, 0, 0}, kl_sums[2] = {0, 0};
  int64_t ce_count = 0, kl_count = 0;
  EvalResult r;
  r.hook = hook.str();
  r.dense_threshold = options.dense_threshold;
  torch::NoGradGuard no_grad;
  int64_t done = 0;
  while (done < options.tokens) {
    std::vector<int64_t> flat;
    int64_t rows = 0;
    while (rows < options.batch_sequences && done + rows * context_size < options.tokens) {
      auto row = packer.next_row();
      if (!row) break;
      flat.insert(flat.end(), row->begin(), row->end());
      ++rows;
    }
    if (rows == 0) break;
    const auto ids = torch::tensor(flat, torch::kInt64).view({rows, context_size}).to(device);
    const auto keep = ~special.index_select(0, ids.reshape({-1})).view(ids.sizes());  // [B, T]

    // Clean forward, keeping the activation (it continues to the logits: no early stop).
    torch::Tensor clean_act;
    lm::Hooks clean_hooks;
    clean_hooks.on_read(hook, [&](const lm::HookName&, const torch::Tensor& a) { clean_act = a; });
    const auto logits_clean = model->forward({ids, {}}, options.model_metrics ? &clean_hooks : nullptr);
    if (!options.model_metrics) {
      lm::Hooks h;
      h.capture(hook).stop_after_last_read();
      model->forward({ids, {}}, &h);
      clean_act = h.captured().at(hook);
    }
    const auto x = clean_act.to(sae_device, torch::kFloat32).reshape({-1, sae.config().d_in});
    const auto features = sae.encode(sae.normalize_input(x));
    const auto x_hat = sae.denormalize_output(sae.decode(features), x);
    const auto index = keep.reshape({-1}).nonzero().squeeze(1).to(sae_device);
    metrics.add(x.index_select(0, index), x_hat.index_select(0, index), features.index_select(0, index));

    if (options.model_metrics) {
      const auto mask3 = keep.unsqueeze(-1);
      const auto replacement = x_hat.view(clean_act.sizes()).to(device, clean_act.scalar_type());
      lm::Hooks splice, ablate;
      splice.on_write(hook,
                      [&](const lm::HookName&, const torch::Tensor& a) { return torch::where(mask3, replacement, a); });
      // Zero ablation replaces every position, special ones included: SAELens's
      // standard_zero_ablate_hook applies no mask (only its replacement hook does).
      ablate.on_write(hook, [](const lm::HookName&, const torch::Tensor& a) { return torch::zeros_like(a); });
      const auto logits_sae = model->forward({ids, {}}, &splice);
      const auto logits_zero = model->forward({ids, {}}, &ablate);
      const auto ce_mask = keep.slice(1, 0, -1).to(torch::kFloat64);
      const auto kl_mask = keep.to(torch::kFloat64);
      const torch::Tensor* all[3] = {&logits_clean, &logits_sae, &logits_zero};
      for (int i = 0; i < 3; ++i)
        ce_sums[i] += (lm::next_token_cross_entropy(*all[i], ids).to(torch::kFloat64) * ce_mask).sum().item<double>();
      kl_sums[0] +=
          (lm::kl_divergence(lm::log_probs(logits_clean), lm::log_probs(logits_sae)).to(torch::kFloat64) * kl_mask)
              .sum()
              .item<double>();
      kl_sums[1] +=
          (lm::kl_divergence(lm::log_probs(logits_clean), lm::log_probs(logits_zero)).to(torch::kFloat64) * kl_mask)
              .sum()
              .item<double>();
      ce_count += static_cast<int64_t>(ce_mask.sum().item<double>());
      kl_count += static_cast<int64_t>(kl_mask.sum().item<double>());
    }
    done += rows * context_size;
    r.sequences += rows;
    if (progress) progress(done);
  }
  if (metrics.num_tokens() > 0 && done < options.tokens)
    core::log::warning("evaluated " + std::to_string(done) + " token positions, fewer than the " +
                       std::to_string(options.tokens) + " asked (--tokens): " + data.string() +
                       " has no more text; the metrics are over what it has");
  if (metrics.num_tokens() == 0)
    throw InputError("dataset " + data.string() +
                     " yields no token to evaluate (empty, or shorter than one context row of " +
                     std::to_string(context_size) + " tokens?)");

  r.tokens = metrics.num_tokens();
  r.l0 = metrics.l0();
  r.fvu = metrics.fvu();
  r.mse = metrics.mse();
  r.cosine = metrics.cosine_similarity();
  const auto fractions = firing_fractions(metrics.firing_counts(), r.tokens, options.dense_threshold);
  r.dead_fraction = fractions.dead;
  r.dense_fraction = fractions.dense;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (options.model_metrics && ce_count > 0) {
    r.ce_clean = ce_sums[0] / ce_count;
    r.ce_sae = ce_sums[1] / ce_count;
    r.ce_zero = ce_sums[2] / ce_count;
    r.ce_loss_recovered = (r.ce_zero - r.ce_sae) / (r.ce_zero - r.ce_clean);
    r.kl_sae = kl_sums[0] / kl_count;
    r.kl_zero = kl_sums[1] / kl_count;
    r.kl_div_score = (r.kl_zero - r.kl_sae) / r.kl_zero;
  } else {
    r.ce_clean = r.ce_sae = r.ce_zero = r.ce_loss_recovered = r.kl_sae = r.kl_zero = r.kl_div_score = nan;
  }
  // log10 density histogram over [-10, 0] in half-decade bins (SAELens logs log10(freq + 1e-10)).
  const auto counts = metrics.firing_counts().to(torch::kFloat64);
  for (int i = 0; i <= 20; ++i) r.density_bin_edges.push_back(-10.0 + 0.5 * i);
  r.density_counts.assign(20, 0);
  const auto density = (counts / static_cast<double>(r.tokens)).contiguous();
  const auto* d = density.data_ptr<double>();
  for (int64_t i = 0; i < density.numel(); ++i) {
    if (d[i] <= 0) {
      ++r.never_fired;
      continue;
    }
    const int bin = std::clamp(static_cast<int>(std::floor((std::log10(d[i]) + 10.0) / 0.5)), 0, 19);
    ++r.density_counts[bin];
  }
  return r;
}

nlohmann::json eval_result_json(const EvalResult& r) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"hook", r.hook},
          {"tokens", r.tokens},
          {"sequences", r.sequences},
          {"l0", num(r.l0)},
          {"fvu", num(r.fvu)},
          {"explained_variance", num(1.0 - r.fvu)},
          {"mse", num(r.mse)},
          {"cosine_similarity", num(r.cosine)},
          {"dead_fraction", num(r.dead_fraction)},
          {"dense_fraction", num(r.dense_fraction)},
          {"dense_threshold", r.dense_threshold},
          {"ce_loss_clean", num(r.ce_clean)},
          {"ce_loss_with_sae", num(r.ce_sae)},
          {"ce_loss_with_ablation", num(r.ce_zero)},
          {"ce_loss_recovered", num(r.ce_loss_recovered)},
          {"kl_div_with_sae", num(r.kl_sae)},
          {"kl_div_with_ablation", num(r.kl_zero)},
          {"kl_div_score", num(r.kl_div_score)},
          {"feature_density",
           {{"log10_bin_edges", r.density_bin_edges}, {"counts", r.density_counts}, {"never_fired", r.never_fired}}},
          {"definitions",
           {{"fvu", "sum_t |x - x_hat|^2 / sum_t |x - mean_t x|^2, pooled over all tokens, raw activation space"},
            {"mse", "mean over tokens and dimensions of (x - x_hat)^2"},
            {"ce_loss_recovered", "(CE_zero - CE_sae) / (CE_zero - CE_clean); non-special input tokens"},
            {"kl_div_score", "(KL_zero - KL_sae) / KL_zero with KL(p_clean || p)"},
            {"dead", "never fired on the evaluated tokens"},
            {"dense", "fired on more than dense_threshold of the evaluated tokens"}}}};
}

std::string eval_result_table(const EvalResult& r) {
  std::string out;
  char line[160];
  auto row = [&](const char* name, double v, const char* fmt = "%.6g") {
    char value[64];
    if (std::isfinite(v)) std::snprintf(value, sizeof value, fmt, v);
    else std::snprintf(value, sizeof value, "-");
    std::snprintf(line, sizeof line, "%-26s %s\n", name, value);
    out += line;
  };
  std::snprintf(line, sizeof line, "%-26s %s\n", "hook", r.hook.c_str());
  out += line;
  row("tokens", static_cast<double>(r.tokens), "%.0f");
  row("L0", r.l0, "%.2f");
  row("FVU", r.fvu, "%.4f");
  row("explained variance", 1.0 - r.fvu, "%.4f");
  row("MSE", r.mse);
  row("cosine similarity", r.cosine, "%.4f");
  std::snprintf(line, sizeof line, "%-26s %.4f (never fired)\n", "dead fraction", r.dead_fraction);
  out += line;
  std::snprintf(line, sizeof line, "%-26s %.4f (density > %g)\n", "dense fraction", r.dense_fraction,
                r.dense_threshold);
  out += line;
  row("CE clean", r.ce_clean, "%.4f");
  row("CE with SAE", r.ce_sae, "%.4f");
  row("CE zero-ablated", r.ce_zero, "%.4f");
  row("CE loss recovered", r.ce_loss_recovered, "%.4f");
  row("KL with SAE", r.kl_sae, "%.4f");
  row("KL zero-ablated", r.kl_zero, "%.4f");
  row("KL div score", r.kl_div_score, "%.4f");
  return out;
}

}  // namespace fpokit::sae
