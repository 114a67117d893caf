#pragma once
// --model/--device/--dtype, shared by every command that loads a model.
#include <string>

#include <CLI/CLI.hpp>

#include "fpokit/lm/model/load_model.h"

namespace fpokit::cli {

struct ModelOptions {
  std::string model_dir;
  std::string device = "cpu";
  std::string dtype = "auto";

  void add_to(CLI::App& cmd) {
    cmd.add_option("--model", model_dir, "HuggingFace model directory (config.json, *.safetensors, tokenizer files)")
        ->required();
    cmd.add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
    cmd.add_option("--dtype", dtype,
                   "float32|bfloat16|float16, or auto: float32 on CPU, the checkpoint's dtype on GPU")
        ->capture_default_str();
  }
  lm::LoadOptions load_options() const { return {lm::parse_device(device), lm::parse_dtype(dtype)}; }
};

}  // namespace fpokit::cli
