#pragma once
// Writes a model as a HuggingFace model directory that transformers' from_pretrained() loads:
// the weights under their HF names (the module's parameter names are the HF names, see
// causal_lm.h) in safetensors, sharded above `max_shard_bytes` with model.safetensors.index.json
// as transformers writes it, plus config.json, generation_config.json and the tokenizer files
// copied from the source directory. The folder is written atomically.
#include <cstdint>
#include <filesystem>

#include "fpokit/lm/model/causal_lm.h"

namespace fpokit::lm {

struct SaveOptions {
  int64_t max_shard_bytes = 5'000'000'000;  // transformers' historical default ("5GB")
};

// `source_dir`: the directory the model was loaded from (for config and tokenizer files).
void save_pretrained(const CausalLMImpl& model, const std::filesystem::path& source_dir,
                     const std::filesystem::path& out_dir, const SaveOptions& options = {});

}  // namespace fpokit::lm
