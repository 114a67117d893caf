#include "fpokit/lm/checkpoint/save_model.h"

#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"

namespace fpokit::lm {

namespace fs = std::filesystem;

namespace {

// Files that describe the model but are not weights; copied as they are when present.
constexpr const char* kCopiedFiles[] = {
    "config.json",          "generation_config.json", "tokenizer.json",     "tokenizer.model",
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "chat_template.jinja",
    "vocab.json",           "merges.txt"};

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

// HF's name of the weights' dtype when they all share one float dtype, else "".
std::string common_dtype_name(const std::vector<std::vector<std::pair<std::string, torch::Tensor>>>& shards) {
  std::optional<torch::ScalarType> common;
  for (const auto& shard : shards)
    for (const auto& [name, t] : shard) {
      if (common && *common != t.scalar_type()) return "";
      common = t.scalar_type();
    }
  if (!common) return "";
  switch (*common) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return "";
  }
}

}  // namespace

void save_pretrained(const CausalLMImpl& model, const fs::path& source_dir, const fs::path& out_dir,
                     const SaveOptions& options) {
  std::vector<std::vector<std::pair<std::string, torch::Tensor>>> shards(1);
  int64_t shard_bytes = 0, total_bytes = 0;
  for (const auto& p : model.named_parameters()) {
    auto t = p.value().detach().to(torch::kCPU).contiguous();
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    if (shard_bytes > 0 && shard_bytes + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().emplace_back(p.key(), t);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  const std::string dtype_name = common_dtype_name(shards);
  core::write_directory_atomically(out_dir, [&](const fs::path& tmp) {
    const std::map<std::string, std::string> metadata{{"format", "pt"}};
    if (shards.size() == 1) {
      write_safetensors(tmp / "model.safetensors", shards[0], metadata);
    } else {
      nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", nlohmann::json::object()}};
      for (size_t i = 0; i < shards.size(); ++i) {
        const auto name = shard_name(i, shards.size());
        write_safetensors(tmp / name, shards[i], metadata);
        for (const auto& [tensor, _] : shards[i]) index["weight_map"][tensor] = name;
      }
      core::write_text_file_atomically(tmp / "model.safetensors.index.json", index.dump(2) + "\n");
    }
    for (const char* f : kCopiedFiles) {
      std::error_code ec;
      if (fs::exists(source_dir / f)) fs::copy_file(source_dir / f, tmp / f, fs::copy_options::overwrite_existing, ec);
      if (ec) throw InputError((out_dir / f).string() + ": cannot copy from " + source_dir.string() + ": " + ec.message());
    }
    // config.json declares the dtype of the weights written here, which may differ from the
    // source's (a bfloat16 checkpoint trained in float32 on CPU): both spellings are updated.
    if (!dtype_name.empty() && fs::exists(tmp / "config.json")) {
      std::ifstream in(tmp / "config.json");
      auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      in.close();
      if (config.is_object()) {
        bool set = false;
        for (const char* key : {"torch_dtype", "dtype"})
          if (config.contains(key)) config[key] = dtype_name, set = true;
        if (!set) config["torch_dtype"] = dtype_name;
        core::write_text_file_atomically(tmp / "config.json", config.dump(2) + "\n");
      }
    }
  });
}

}  // namespace fpokit::lm
