#pragma once
// The table of supported architectures (lm/src/model/architecture_registry.cpp): each entry names the
// HF `architectures` strings and `model_type`s it serves, the config.json parser and the module
// builder. Adding an architecture = one file in lm/src/arch/ + one row in the table.
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/checkpoint/config_reader.h"

namespace fpokit::lm {

struct Architecture {
  std::string name;                       // e.g. "LlamaForCausalLM"
  std::vector<std::string> hf_architectures;
  std::vector<std::string> model_types;
  std::function<ModelConfig(const ConfigReader&)> parse_config;
  // Builds the module with uninitialised parameters of the given dtype/device.
  std::function<CausalLM(const ModelConfig&, const torch::TensorOptions&)> build;
};

const std::vector<Architecture>& architectures();

// Chooses by config.json's "architectures"[0], then by "model_type". Throws ConfigError listing
// the supported names when nothing matches.
const Architecture& find_architecture(const nlohmann::json& config_json,
                                      const std::filesystem::path& source);

}  // namespace fpokit::lm
