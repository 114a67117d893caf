#include "fpokit/fpo/eval/preference_eval.h"

#include <cstdio>
#include <filesystem>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/fpo/training/run_inputs.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/lm/tokenizer/tokenizer.h"

namespace fpokit::fpo {

namespace {

std::string absolute(const std::string& path) {
  return path.empty() ? std::string() : std::filesystem::absolute(path).lexically_normal().string();
}

// The options `method` reads, by their CLI names (what `train` takes for the same run).
nlohmann::json method_parameters(Method method, const PreferenceLossOptions& l) {
  switch (method) {
    case Method::Dpo:
    case Method::Robust: return {{"beta", l.dpo.beta}, {"label-smoothing", l.dpo.label_smoothing}};
    case Method::Ipo:
    case Method::Hinge: return {{"beta", l.dpo.beta}};
    case Method::Simpo:
      return {{"simpo-beta", l.simpo.beta},
              {"simpo-gamma-beta-ratio", l.simpo.gamma_beta_ratio},
              {"simpo-sft-weight", l.simpo.sft_weight}};
    case Method::Tdpo1: return {{"tdpo-beta", l.tdpo.beta}};
    case Method::Tdpo2: return {{"tdpo-beta", l.tdpo.beta}, {"tdpo-alpha", l.tdpo.alpha}};
    case Method::Kto:
      return {{"kto-beta", l.kto.beta},
              {"desirable-weight", l.kto.desirable_weight},
              {"undesirable-weight", l.kto.undesirable_weight}};
    case Method::Orpo: return {{"orpo-lambda", l.orpo.lambda}, {"orpo-nll", std::string(orpo_nll_name(l.orpo.nll))}};
    case Method::Fpo:
      return {{"fpo-beta", l.fpo.beta},
              {"alpha", l.fpo.alpha},
              {"fpo-topk", l.fpo.top_k},
              {"fpo-variant", std::string(fpo_variant_name(l.fpo.variant))}};
    case Method::Sft: return nlohmann::json::object();
  }
  return nlohmann::json::object();
}

}  // namespace

std::string reward_definition(Method method) {
  switch (method) {
    case Method::Dpo:
    case Method::Ipo:
    case Method::Hinge:
    case Method::Robust:
    case Method::Kto: return "beta * (sum log pi - sum log pi_ref) over the completion tokens";
    case Method::Tdpo1:
    case Method::Tdpo2: return "beta * (sum log pi - sum log pi_ref + sequence KL(pi_ref || pi))";
    case Method::Fpo: return "beta * (mean log pi - mean log pi_ref + feature MSE to the reference)";
    case Method::Simpo: return "beta * mean log pi per completion token (reference-free)";
    case Method::Orpo: return "lambda * mean log pi per completion token (reference-free)";
    case Method::Sft: return "";
  }
  return "";
}

PreferenceEvalResult evaluate_preference_data(PreferenceEvalOptions o) {
  const auto& traits = method_traits(o.method);
  if (o.method == Method::Sft)
    throw InputError("--method sft has no reward to evaluate: choose the method the model was trained with");
  if (traits.needs_reference && o.ref_model_dir.empty())
    throw InputError("--method " + std::string(traits.name) +
                     " measures rewards against a reference: give --ref-model (e.g. the model before training)");
  if (traits.needs_sae && o.sae.empty()) throw InputError("--method fpo needs --sae DIR (the SAE the run constrained)");
  o.loss.validate(o.method);

  const auto tokenizer = lm::Tokenizer::from_directory(o.model_dir);
  auto data_options = preference_data_options(o.chat_template, o.model_dir, *tokenizer);
  data_options.split = o.split;
  data_options.fields = o.fields;
  auto data = load_pairs(o.data, o.method, data_options, *tokenizer, o.tokenization, o.batch_size, "");
  const auto device = lm::parse_device(o.device);
  const lm::LoadOptions load{device, lm::parse_dtype(o.dtype)};
  check_pairs_fit(data.pairs, lm::load_model_config(o.model_dir));
  auto model = lm::load_model(o.model_dir, load);
  if (!o.adapter.empty()) lm::LoraAdapters::load_peft(*model, o.adapter);  // the layers keep the adapters

  LoadedProbe fpo_probe;
  if (traits.needs_sae)
    fpo_probe = load_feature_probe(o.sae, o.fpo_hook, *model, o.model_dir, device, o.loss.fpo.variant);

  PreferenceTrainerOptions t;
  t.method = o.method;
  t.loss = o.loss;
  t.device = device;
  t.pad_id = padding_token_id(*tokenizer);
  t.per_device_eval_batch_size = o.batch_size;
  t.logits_chunk_size = o.logits_chunk_size;
  t.share_prompt = o.share_prompt;
  const auto pairs = static_cast<int64_t>(data.pairs.size());
  PreferenceTrainer evaluator(PreferenceTrainer::EvaluationOnly{}, t, model, std::move(data.pairs), fpo_probe.probe);
  if (traits.unpaired_labels) evaluator.use_kto_labels(std::move(data.kto_labels));
  if (traits.needs_reference) evaluator.precompute_reference(lm::load_model(o.ref_model_dir, load));

  PreferenceEvalResult r;
  r.method = o.method;
  r.pairs = pairs;
  for (const auto& [name, value] : evaluator.evaluate())
    r.metrics[name.substr(name.rfind("eval_", 0) == 0 ? 5 : 0)] = value;
  r.inputs = {{"model", absolute(o.model_dir)}, {"data", absolute(o.data)}};
  if (!o.adapter.empty()) r.inputs["adapter"] = absolute(o.adapter);
  if (traits.needs_reference) r.inputs["ref_model"] = absolute(o.ref_model_dir);
  if (traits.needs_sae) {
    r.inputs["sae"] = absolute(o.sae);
    r.inputs["fpo_hook"] = o.fpo_hook;
  }
  if (!o.chat_template.empty()) r.inputs["chat_template"] = o.chat_template;
  r.parameters = method_parameters(o.method, o.loss);
  return r;
}

nlohmann::json preference_eval_json(const PreferenceEvalResult& r) {
  nlohmann::json j = {{"method", std::string(method_name(r.method))},
                      {"reward", reward_definition(r.method)},
                      {"pairs", r.pairs},
                      {"parameters", r.parameters}};
  for (const auto& [key, value] : r.inputs.items()) j[key] = value;
  for (const auto& [name, value] : r.metrics) j[name] = value;
  return j;
}

std::string preference_eval_table(const PreferenceEvalResult& r) {
  std::string out;
  char buf[160];
  const auto row = [&](const std::string& name, const std::string& value) {
    std::snprintf(buf, sizeof buf, "%-24s %s\n", name.c_str(), value.c_str());
    out += buf;
  };
  row("method", std::string(method_name(r.method)));
  row("reward", reward_definition(r.method));
  row("pairs", std::to_string(r.pairs));
  const auto number = [&](const char* key) {
    const auto it = r.metrics.find(key);
    if (it == r.metrics.end()) return std::string("-");
    std::snprintf(buf, sizeof buf, "%.4f", it->second);
    return std::string(buf);
  };
  row("reward accuracy", number("rewards/accuracies"));
  row("reward margin", number("rewards/margins"));
  row("reward chosen", number("rewards/chosen"));
  row("reward rejected", number("rewards/rejected"));
  row("logps chosen", number("logps/chosen"));
  row("logps rejected", number("logps/rejected"));
  row("loss", number("loss"));
  return out;
}

}  // namespace fpokit::fpo
