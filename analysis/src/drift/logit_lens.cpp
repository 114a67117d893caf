#include "fpokit/analysis/drift/logit_lens.h"

#include <torch/torch.h>

#include "fpokit/core/errors.h"

namespace fpokit::analysis {

namespace {

// Per architecture family: the final norm's weight, the unembedding, and the tied fallback.
struct ReadoutNames {
  const char* final_norm;
  const char* unembedding;
  const char* tied_embedding;
};
constexpr ReadoutNames kReadoutNames[] = {
    {"model.norm.weight", "lm_head.weight", "model.embed_tokens.weight"},     // Llama, Qwen2, Mistral, Gemma-2
    {"transformer.ln_f.weight", "lm_head.weight", "transformer.wte.weight"},  // GPT-2
    {"gpt_neox.final_layer_norm.weight", "embed_out.weight", "gpt_neox.embed_in.weight"},  // GPT-NeoX / Pythia
};

torch::Tensor find_parameter(const lm::CausalLMImpl& model, const std::string& name) {
  for (const auto& p : model.named_parameters())
    if (p.key() == name) return p.value();
  return {};
}

const ReadoutNames& readout_names(const lm::CausalLMImpl& model) {
  for (const auto& n : kReadoutNames)
    if (find_parameter(model, n.final_norm).defined()) return n;
  throw InputError("logit lens: model type '" + model.config().model_type +
                   "' has no known final norm (looked for model.norm, transformer.ln_f, gpt_neox.final_layer_norm)");
}

}  // namespace

torch::Tensor final_norm_scale(const lm::CausalLMImpl& model) {
  auto w = find_parameter(model, readout_names(model).final_norm).detach().to(torch::kFloat32);
  // Gemma-style RMSNorm multiplies by (1 + weight).
  if (model.config().model_type == "gemma2" || model.config().model_type == "gemma") w = w + 1.0;
  return w;
}

torch::Tensor unembedding(const lm::CausalLMImpl& model) {
  const auto& names = readout_names(model);
  auto w = find_parameter(model, names.unembedding);
  if (!w.defined()) w = find_parameter(model, names.tied_embedding);
  if (!w.defined())
    throw InputError("logit lens: model type '" + model.config().model_type + "' has neither " + names.unembedding +
                     " nor " + names.tied_embedding);
  return w.detach();
}

LogitLensTable logit_lens(const lm::CausalLMImpl& model, const torch::Tensor& directions, int64_t k) {
  torch::NoGradGuard no_grad;
  LogitLensTable t;
  const int64_t n = directions.size(0);
  const auto W_U = unembedding(model);
  t.k = std::min<int64_t>(k, W_U.size(0));
  if (n == 0 || t.k == 0) return t;
  const auto scaled = directions.to(W_U.device(), torch::kFloat32) * final_norm_scale(model).to(W_U.device());
  const auto logits = torch::matmul(scaled, W_U.to(torch::kFloat32).t()).cpu();  // [n, vocab]
  const auto [top_v, top_i] = logits.topk(t.k, 1, /*largest=*/true, /*sorted=*/true);
  const auto [bot_v, bot_i] = logits.topk(t.k, 1, /*largest=*/false, /*sorted=*/true);
  auto flat_i = [](const torch::Tensor& x) {
    const auto c = x.contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  auto flat_v = [](const torch::Tensor& x) {
    const auto c = x.contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  t.promoted_ids = flat_i(top_i);
  t.promoted_values = flat_v(top_v);
  t.suppressed_ids = flat_i(bot_i);
  t.suppressed_values = flat_v(bot_v);
  return t;
}

}  // namespace fpokit::analysis
