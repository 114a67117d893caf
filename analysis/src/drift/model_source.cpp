#include "fpokit/analysis/drift/model_source.h"

#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_file.h"
#include "fpokit/core/io/json_integer.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/model/lora.h"

namespace fpokit::analysis {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_checkpoint_folder(const fs::path& p) {
  return is_file(p / "trainer_state.json") && is_file(p / "policy.safetensors");
}

// A value of `key` in the run's config.toml (CLI11's `key=value` lines), or "" when absent.
std::string config_value(const fs::path& config, const std::string& key) {
  std::ifstream in(config);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto name = line.substr(0, eq);
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name != key) continue;
    auto value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    return value;
  }
  return "";
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  return s;
}

// The run's LoRA settings from <run>/config.toml (written by `fpokit train`).
lm::LoraOptions lora_options_of_run(const fs::path& run_dir, const fs::path& checkpoint) {
  const auto config = run_dir / "config.toml";
  if (!is_file(config))
    throw InputError(
        checkpoint.string() + " holds LoRA weights but " + config.string() +
        " (the run's settings: lora-r, lora-alpha, lora-targets) is missing; use the run's adapter/ folder");
  lm::LoraOptions o;
  try {
    o.r = std::stoll(config_value(config, "lora-r"));
    const auto alpha = config_value(config, "lora-alpha");
    if (!alpha.empty()) o.alpha = std::stod(alpha);
  } catch (const std::exception&) {
    throw InputError(config.string() + ": lora-r / lora-alpha missing or not a number");
  }
  const auto targets = config_value(config, "lora-targets");
  if (!targets.empty()) {
    o.targets.clear();
    std::string list = targets;
    if (!list.empty() && list.front() == '[') list = list.substr(1, list.rfind(']') - 1);
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) o.targets.push_back(unquote(item));
    }
  }
  return o;
}

// Copies each named tensor from `weights`; one CheckpointError lists every missing or mis-shaped one.
void copy_named_weights(const lm::SafetensorsFile& weights,
                        const std::vector<std::pair<std::string, torch::Tensor>>& targets, const fs::path& file,
                        const std::string& hint) {
  std::string problems;
  for (const auto& [name, target] : targets) {
    if (weights.find(name) == nullptr) {
      problems += (problems.empty() ? "" : ", ") + name + " missing";
      continue;
    }
    const auto value = weights.load(name);
    if (value.sizes() != target.sizes()) {
      problems += (problems.empty() ? "" : ", ") + name + " has the wrong shape";
      continue;
    }
    torch::Tensor(target).copy_(value);
  }
  if (!problems.empty()) throw CheckpointError(file.string() + ": " + problems + " (" + hint + ")");
}

void load_checkpoint_weights(lm::CausalLMImpl& model, const fs::path& checkpoint) {
  const auto file = checkpoint / "policy.safetensors";
  lm::SafetensorsFile weights(file);
  const auto& tensors = weights.tensors();
  const bool lora = !tensors.empty() && tensors.front().name.find("lora_") != std::string::npos;
  torch::NoGradGuard no_grad;
  if (lora) {
    const auto run_dir = checkpoint.parent_path();
    auto adapters = lm::LoraAdapters::attach(model, lora_options_of_run(run_dir, checkpoint));
    copy_named_weights(weights, adapters.named_parameters(), file, "does config.toml match the run?");
    adapters.merge();
    return;
  }
  std::vector<std::pair<std::string, torch::Tensor>> parameters;
  for (const auto& p : model.named_parameters()) parameters.emplace_back(p.key(), p.value());
  copy_named_weights(weights, parameters, file, "was the run trained from this --base?");
}

}  // namespace

FpoSelectionRecord read_fpo_selection(const fs::path& file) {
  const auto j = core::read_json_file(file);
  FpoSelectionRecord r;
  r.file = file;
  try {
    r.sae = j.value("sae", "");
    r.hook = j.value("hook", "");
    r.top_k = core::json_integer_field(j, "top_k", file.string());
    r.variant = j.value("variant", "");
    r.selections = core::json_integer_field(j, "selections", file.string());
    if (!j.contains("counts")) throw ConfigError(file.string() + ": missing field 'counts'");
    r.counts = core::json_integer_list(j.at("counts"), file.string(), "counts");
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file.string() + ": not an fpo_selection.json (top_k, selections, counts): " + e.what());
  }
  return r;
}

ModelSource classify_model_source(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path.string() + ": no such model directory");
  if (!fs::is_directory(path, ec))
    throw InputError(path.string() +
                     ": not a directory (give an HF model directory, a fpokit train output folder, "
                     "a LoRA adapter folder or a run's checkpoint folder)");
  ModelSource s;
  s.path = path;
  if (is_file(path / "fpo_selection.json")) s.fpo_selection = read_fpo_selection(path / "fpo_selection.json");
  auto checkpoint_step = [](const fs::path& dir) -> std::optional<int64_t> {
    const auto j = core::read_json_file(dir / "trainer_state.json");
    if (j.contains("step") && j["step"].is_number_integer()) return j["step"].get<int64_t>();
    return std::nullopt;
  };
  if (is_file(path / "config.json")) {
    s.kind = "model";
    s.weights = path;
  } else if (is_file(path / "adapter_config.json")) {
    s.kind = "adapter";
    s.weights = path;
  } else if (is_checkpoint_folder(path)) {
    s.kind = "checkpoint";
    s.weights = path;
    s.checkpoint_step = checkpoint_step(path);
  } else if (is_file(path / "model" / "config.json")) {
    s.kind = "train_output";
    s.weights = path / "model";
  } else if (is_file(path / "adapter" / "adapter_config.json")) {
    s.kind = "train_output";
    s.weights = path / "adapter";
  } else if (const auto newest = core::CheckpointFolder(path).newest(); newest && is_checkpoint_folder(*newest)) {
    // An interrupted run: its newest complete checkpoint-<step>.
    s.kind = "checkpoint";
    s.weights = *newest;
    s.checkpoint_step = checkpoint_step(*newest);
  } else {
    throw InputError(path.string() +
                     ": not a model (no config.json, adapter_config.json, model/, adapter/ or checkpoint-<step>/ "
                     "with trainer_state.json and policy.safetensors)");
  }
  // The run's drift timeline: in the run folder, which is `path` or (a checkpoint folder given
  // directly) a folder above it.
  for (auto dir = path; s.kind != "model" && s.kind != "adapter";) {
    if (is_file(dir / "drift_timeline.h5")) {
      s.timeline = dir / "drift_timeline.h5";
      break;
    }
    if (s.kind != "checkpoint" || dir == path.parent_path().parent_path() || !dir.has_parent_path()) break;
    dir = dir.parent_path();
  }
  // A checkpoint of an FPO run carries the selection counts so far in its trainer_state.json.
  if (s.kind == "checkpoint" && !s.fpo_selection) {
    const auto state_file = s.weights / "trainer_state.json";
    const auto state = core::read_json_file(state_file);
    if (state.contains("fpo_selection_counts")) {
      FpoSelectionRecord r;
      r.file = state_file;
      try {
        r.counts =
            core::json_integer_list(state.at("fpo_selection_counts"), state_file.string(), "fpo_selection_counts");
        r.selections = core::json_integer_field(state, "fpo_selections", state_file.string());
      } catch (const nlohmann::json::exception& e) {
        throw InputError(state_file.string() + ": fpo_selection_counts / fpo_selections: " + e.what());
      }
      s.fpo_selection = r;
    }
  }
  return s;
}

LoadedModel load_model_source(const fs::path& path, const fs::path& base_dir, const lm::LoadOptions& options) {
  LoadedModel m;
  m.source = classify_model_source(path);
  const auto& w = m.source.weights;
  if (is_file(w / "config.json")) {
    m.model = lm::load_model(w, options);
  } else if (is_file(w / "adapter_config.json")) {
    m.model = lm::load_model(base_dir, options);
    auto adapters = lm::LoraAdapters::load_peft(*m.model, w);
    adapters.merge();
  } else {
    m.model = lm::load_model(base_dir, options);
    load_checkpoint_weights(*m.model, w);
  }
  for (auto& p : m.model->parameters()) p.set_requires_grad(false);
  m.model->eval();
  return m;
}

}  // namespace fpokit::analysis
