#include "fpokit/lm/model/lora.h"

#include <cmath>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/json_integer.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/model/layers.h"

namespace fpokit::lm {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         (s.size() == suffix.size() || s[s.size() - suffix.size() - 1] == '.');
}

// The adaptable layers: Linear (W [out, in]) and GPT-2's Conv1D (W [in, out], PEFT's
// fan_in_fan_out). A view of either with what LoRA needs.
struct Adaptable {
  torch::Tensor* weight = nullptr;
  std::shared_ptr<LoraAdapter>* lora = nullptr;
  bool transposed = false;  // Conv1D
  int64_t in() const { return weight->size(transposed ? 0 : 1); }
  int64_t out() const { return weight->size(transposed ? 1 : 0); }
  explicit operator bool() const { return weight != nullptr; }
};

Adaptable adaptable(const std::shared_ptr<torch::nn::Module>& m) {
  if (auto l = std::dynamic_pointer_cast<LinearImpl>(m)) return {&l->weight, &l->lora, false};
  if (auto c = std::dynamic_pointer_cast<Conv1DImpl>(m)) return {&c->weight, &c->lora, true};
  return {};
}

}  // namespace

void LoraOptions::validate() const {
  if (r < 1) throw ConfigError("--lora-r must be at least 1");
  if (!(alpha > 0))
    throw ConfigError("--lora-alpha must be positive (the update is scaled by alpha/r), got " + std::to_string(alpha));
  if (!(dropout >= 0 && dropout < 1))
    throw ConfigError("--lora-dropout must be in [0, 1), got " + std::to_string(dropout));
}

LoraAdapters LoraAdapters::attach(CausalLMImpl& model, const LoraOptions& options) {
  options.validate();
  LoraAdapters out;
  out.options_ = options;
  std::vector<std::string> linear_names;
  std::vector<bool> target_used(options.targets.size(), false);
  const std::optional<std::regex> pattern =
      options.target_regex.empty() ? std::nullopt : std::optional<std::regex>(std::regex(options.target_regex));
  bool regex_used = false;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (!adaptable(item.value())) continue;
    linear_names.push_back(item.key());
    if (pattern) {
      if (std::regex_match(item.key(), *pattern)) {
        regex_used = true;
        out.layers_.emplace_back(item.key(), item.value());
      }
      continue;
    }
    for (size_t t = 0; t < options.targets.size(); ++t) {
      if (!ends_with(item.key(), options.targets[t])) continue;
      target_used[t] = true;
      out.layers_.emplace_back(item.key(), item.value());
      break;
    }
  }
  auto leaf_names = [&] {
    std::set<std::string> leaves;
    for (const auto& n : linear_names) leaves.insert(n.substr(n.rfind('.') + 1));
    std::string have;
    for (const auto& l : leaves) have += (have.empty() ? "" : ", ") + l;
    return have;
  };
  if (pattern && !regex_used)
    throw ConfigError("LoRA target_modules regex '" + options.target_regex +
                      "' matches no Linear or Conv1D layer (the model has: " + leaf_names() + ")");
  for (size_t t = 0; t < options.targets.size() && !pattern; ++t) {
    if (target_used[t]) continue;
    throw ConfigError("--lora-targets: no Linear or Conv1D layer named " + options.targets[t] +
                      " in this model (it has: " + leaf_names() + ")");
  }
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  for (auto& [name, module] : out.layers_) {
    auto layer = adaptable(module);
    const int64_t in = layer.in(), outf = layer.out();
    auto adapter = std::make_shared<LoraAdapter>();
    // kaiming_uniform with a = √5 (PEFT, torch Linear): bound = 1/√in.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    adapter->A = torch::empty({options.r, in}, torch::kFloat32).uniform_(-bound, bound, gen).to(layer.weight->device());
    adapter->B =
        torch::zeros({outf, options.r}, torch::TensorOptions().dtype(torch::kFloat32).device(layer.weight->device()));
    adapter->A.set_requires_grad(true);
    adapter->B.set_requires_grad(true);
    adapter->scale = options.alpha /
                     (options.use_rslora ? std::sqrt(static_cast<double>(options.r)) : static_cast<double>(options.r));
    adapter->dropout = options.dropout;
    *layer.lora = adapter;
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraAdapters::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, module] : layers_) {
    const auto& a = **adaptable(module).lora;
    out.emplace_back(name + ".lora_A.weight", a.A);
    out.emplace_back(name + ".lora_B.weight", a.B);
  }
  return out;
}

std::vector<torch::Tensor> LoraAdapters::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

void LoraAdapters::set_enabled(bool enabled) {
  for (auto& [name, module] : layers_)
    if (auto& lora = *adaptable(module).lora) lora->enabled = enabled;
}

LoraAdapters LoraAdapters::load_peft(CausalLMImpl& model, const std::filesystem::path& dir) {
  const auto config_path = dir / "adapter_config.json";
  std::ifstream in(config_path);
  if (!in) throw InputError(config_path.string() + ": no such file (a PEFT adapter folder holds adapter_config.json)");
  nlohmann::json c;
  try {
    c = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(config_path.string() + ": not valid JSON (" + e.what() + ")");
  }
  auto refuse = [&](const std::string& what) {
    throw InputError(config_path.string() + ": " + what + " is not supported (fpokit reads plain LoRA adapters)");
  };
  if (c.value("peft_type", "LORA") != "LORA") refuse("peft_type " + c.value("peft_type", std::string()));
  if (c.value("use_dora", false)) refuse("use_dora");
  // fan_in_fan_out: PEFT sets it for Conv1D targets (GPT-2), whose weights fpokit knows to be
  // stored [in, out] whatever the flag says, as PEFT itself does.
  if (c.value("lora_bias", false)) refuse("lora_bias");
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    if (c.contains(key) && c[key].is_object() && !c[key].empty()) refuse(std::string("a non-empty ") + key);
  if (c.contains("layers_to_transform") && !c["layers_to_transform"].is_null()) refuse("layers_to_transform");
  LoraOptions options;
  try {
    options.r = core::json_integer_field(c, "r", config_path.string());
    options.alpha = c.at("lora_alpha").get<double>();
    options.dropout = c.value("lora_dropout", 0.0);
    options.use_rslora = c.value("use_rslora", false);
    const auto& targets = c.at("target_modules");
    if (targets.is_string()) {
      options.target_regex = targets.get<std::string>();
      options.targets.clear();
    } else {
      options.targets = targets.get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(config_path.string() + ": r, lora_alpha and target_modules are required (" + e.what() + ")");
  }
  auto adapters = attach(model, options);

  const auto weights_path = dir / "adapter_model.safetensors";
  if (!std::filesystem::exists(weights_path))
    throw InputError(weights_path.string() +
                     ": no such file (fpokit reads safetensors adapters, not adapter_model.bin)");
  SafetensorsFile file(weights_path);
  std::set<std::string> unused;
  for (const auto& info : file.tensors()) unused.insert(info.name);
  std::vector<std::string> problems;
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : adapters.named_parameters()) {
    // PEFT's key: base_model.model.<module path>.lora_A.weight (older versions insert the adapter
    // name, .lora_A.default.weight, in memory only; files never carry it).
    const std::string key = "base_model.model." + name;
    if (!unused.count(key)) {
      problems.push_back("missing " + key);
      continue;
    }
    unused.erase(key);
    auto loaded = file.load(key);
    if (loaded.sizes() != tensor.sizes()) {
      std::ostringstream msg;
      msg << key << " has shape " << loaded.sizes() << ", expected " << tensor.sizes();
      problems.push_back(msg.str());
      continue;
    }
    tensor.copy_(loaded.to(tensor.device(), tensor.scalar_type()));
  }
  for (const auto& key : unused) problems.push_back("unexpected " + key);
  if (!problems.empty()) {
    std::string joined;
    for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
    throw InputError(weights_path.string() + ": does not fit this model: " + joined);
  }
  return adapters;
}

void LoraAdapters::save_peft(const std::filesystem::path& dir, const std::string& base_model) const {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, t] : named_parameters())
    tensors.emplace_back("base_model.model." + name, t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  const nlohmann::json config = {{"peft_type", "LORA"},
                                 {"task_type", "CAUSAL_LM"},
                                 {"r", options_.r},
                                 {"lora_alpha", options_.alpha},
                                 {"lora_dropout", options_.dropout},
                                 {"target_modules", options_.target_regex.empty()
                                                        ? nlohmann::json(options_.targets)
                                                        : nlohmann::json(options_.target_regex)},
                                 {"bias", "none"},
                                 {"fan_in_fan_out", any_transposed()},
                                 {"inference_mode", true},
                                 {"init_lora_weights", true},
                                 {"use_rslora", options_.use_rslora},
                                 {"use_dora", false},
                                 {"modules_to_save", nullptr},
                                 {"base_model_name_or_path", base_model}};
  core::write_directory_atomically(dir, [&](const std::filesystem::path& tmp) {
    write_safetensors(tmp / "adapter_model.safetensors", tensors, {{"format", "pt"}});
    core::write_text_file_atomically(tmp / "adapter_config.json", config.dump(2) + "\n");
  });
}

bool LoraAdapters::any_transposed() const {
  for (const auto& [name, module] : layers_)
    if (adaptable(module).transposed) return true;
  return false;
}

void LoraAdapters::merge() {
  torch::NoGradGuard no_grad;
  for (auto& [name, module] : layers_) {
    auto layer = adaptable(module);
    if (!*layer.lora) continue;
    const auto& a = **layer.lora;
    auto update = torch::matmul(a.B, a.A) * a.scale;  // [out, in]
    if (layer.transposed) update = update.t();
    layer.weight->add_(update.to(layer.weight->scalar_type()));
    layer.lora->reset();
  }
  layers_.clear();
}

}  // namespace fpokit::lm
