#pragma once
// --model/--device/--dtype, shared by every command that loads a model, so that the names, values
// and defaults are the same everywhere. Commands word --model for what they do with it and say
// whether it is required (sae train and sae encode can work from an activation file instead).
#include <string>

#include <CLI/CLI.hpp>

#include "fpokit/lm/model/load_model.h"
#include "hub_names.h"

namespace fpokit::cli {

// How a command words and groups them (outside ModelOptions: GCC cannot use a nested struct's
// member initializers in a default argument of the enclosing class).
struct ModelOptionsHelp {
  std::string model = "HuggingFace model directory (config.json, *.safetensors, tokenizer files)";
  bool required = true;
  std::string device = "cpu, cuda or cuda:N";
  std::string group = "Model";
};

struct ModelOptions {
  using Help = ModelOptionsHelp;
  std::string model_dir;
  std::string device = "cpu";
  std::string dtype = "auto";

  void add_to(CLI::App& cmd, const Help& help = {}) {
    auto* model =
        accept_hub_name(cmd.add_option("--model", model_dir, help.model), core::HubRepoType::Model)->group(help.group);
    if (help.required) model->required();
    add_device_options(cmd, help);
  }
  // --device/--dtype alone, for a command that names its models otherwise (drift: --base, --aligned).
  void add_device_options(CLI::App& cmd, const Help& help = {}) {
    cmd.add_option("--device", device, help.device)->capture_default_str()->group(help.group);
    cmd.add_option("--dtype", dtype, "float32|bfloat16|float16, or auto: float32 on CPU, the checkpoint's dtype on GPU")
        ->capture_default_str()
        ->group(help.group);
  }
  lm::LoadOptions load_options() const { return {lm::parse_device(device), lm::parse_dtype(dtype)}; }
};

}  // namespace fpokit::cli
