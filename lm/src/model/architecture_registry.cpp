#include "fpokit/lm/model/architecture_registry.h"

#include "fpokit/lm/arch/gemma2.h"
#include "fpokit/lm/arch/gpt2.h"
#include "fpokit/lm/arch/gpt_neox.h"
#include "fpokit/lm/arch/llama.h"
#include "fpokit/core/errors.h"

namespace fpokit::lm {

// One row per supported architecture. `hf_architectures` are matched against config.json's
// "architectures"[0], then `model_types` against "model_type".
const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> table = {
      {"LlamaForCausalLM", {"LlamaForCausalLM"}, {"llama"}, arch::llama::parse_llama_config, arch::llama::build},
      {"MistralForCausalLM", {"MistralForCausalLM"}, {"mistral"}, arch::llama::parse_mistral_config, arch::llama::build},
      {"Qwen2ForCausalLM", {"Qwen2ForCausalLM"}, {"qwen2"}, arch::llama::parse_qwen2_config, arch::llama::build},
      {"GPT2LMHeadModel", {"GPT2LMHeadModel"}, {"gpt2"}, arch::gpt2::parse_config, arch::gpt2::build},
      {"GPTNeoXForCausalLM", {"GPTNeoXForCausalLM"}, {"gpt_neox"}, arch::gpt_neox::parse_config, arch::gpt_neox::build},
      {"Gemma2ForCausalLM", {"Gemma2ForCausalLM"}, {"gemma2"}, arch::gemma2::parse_config, arch::gemma2::build},
  };
  return table;
}

const Architecture& find_architecture(const nlohmann::json& config_json, const std::filesystem::path& source) {
  const auto& table = architectures();
  std::string declared;
  if (config_json.contains("architectures") && config_json["architectures"].is_array() &&
      !config_json["architectures"].empty() && config_json["architectures"][0].is_string()) {
    declared = config_json["architectures"][0].get<std::string>();
    for (const auto& a : table) {
      for (const auto& name : a.hf_architectures) {
        if (name == declared) return a;
      }
    }
  }
  std::string model_type;
  if (config_json.contains("model_type") && config_json["model_type"].is_string()) {
    model_type = config_json["model_type"].get<std::string>();
    for (const auto& a : table) {
      for (const auto& t : a.model_types) {
        if (t == model_type) return a;
      }
    }
  }
  std::string supported;
  for (const auto& a : table) supported += (supported.empty() ? "" : ", ") + a.name;
  throw ConfigError(source.string() + ": unsupported architecture '" +
                    (declared.empty() ? std::string("(none)") : declared) + "' (model_type '" +
                    (model_type.empty() ? std::string("(none)") : model_type) + "'); supported: " + supported);
}

}  // namespace fpokit::lm
