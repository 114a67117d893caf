#include "fpokit/lm/checkpoint/checkpoint.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"

namespace fpokit::lm {

namespace {

namespace fs = std::filesystem;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string quote_name(std::string_view name) {
  std::string out = "'";
  for (const char c : name) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out + "'";
}

// Shard names come from the index file: keep them inside the model directory.
bool is_plain_relative(const fs::path& p) {
  if (p.empty() || p.is_absolute()) return false;
  return std::none_of(p.begin(), p.end(), [](const fs::path& part) { return part == ".."; });
}

}  // namespace

// One safetensors file of the checkpoint, opened on first use. `expected` lists the tensors the
// index assigns to it; they are checked against the file when it is opened.
struct Checkpoint::Shard {
  fs::path path;
  fs::path index_path;  // empty for a single-file checkpoint
  std::vector<std::string> expected;
  std::once_flag opened;
  std::unique_ptr<SafetensorsFile> file;

  const SafetensorsFile& get() {
    // call_once retries after an exception, so a failed open is reported again on the next use.
    std::call_once(opened, [this] {
      auto f = std::make_unique<SafetensorsFile>(path);
      for (const auto& name : expected) {
        if (f->find(name) == nullptr) {
          throw CheckpointError(index_path.string() + ": tensor " + quote_name(name) + " is mapped to shard " +
                                quote_name(path.filename().string()) + ", which does not contain it");
        }
      }
      file = std::move(f);
    });
    return *file;
  }
};

Checkpoint Checkpoint::open(const fs::path& model_dir) {
  Checkpoint checkpoint;
  checkpoint.dir_ = model_dir;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) {
    throw CheckpointError(model_dir.string() + ": not a directory (expected a HuggingFace model directory)");
  }

  // transformers looks for model.safetensors before the index; so do we.
  const fs::path single = model_dir / kSingleFile;
  if (fs::exists(single, ec)) {
    auto shard = std::make_shared<Shard>();
    shard->path = single;
    const SafetensorsFile& file = shard->get();
    for (const auto& t : file.tensors()) checkpoint.names_.push_back(t.name);
    std::sort(checkpoint.names_.begin(), checkpoint.names_.end());
    checkpoint.shard_of_.assign(checkpoint.names_.size(), 0);
    checkpoint.shards_.push_back(std::move(shard));
    return checkpoint;
  }

  const fs::path index_path = model_dir / kIndexFile;
  if (!fs::exists(index_path, ec)) {
    throw CheckpointError(model_dir.string() + ": no " + kSingleFile + " or " + kIndexFile +
                          " (only safetensors checkpoints are supported; convert pytorch_model.bin with python -c "
                          "\"import transformers as t; t.AutoModelForCausalLM.from_pretrained('DIR')"
                          ".save_pretrained('DIR', safe_serialization=True)\")");
  }
  const std::string where = index_path.string();

  std::ifstream in(index_path, std::ios::binary);
  if (!in) throw CheckpointError(where + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    // The parser quotes raw input: keep the message on one printable ASCII line.
    std::replace_if(
        what.begin(), what.end(),
        [](char c) { return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f; }, '?');
    throw CheckpointError(where + ": not valid JSON: " + what);
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw CheckpointError(where + ": no \"weight_map\" object (expected {\"weight_map\": {tensor name: shard file}})");
  }
  const auto& weight_map = index["weight_map"];
  if (weight_map.empty()) throw CheckpointError(where + ": \"weight_map\" is empty");

  std::map<std::string, std::size_t> shard_numbers;       // shard file name -> position in shards_
  for (const auto& [name, value] : weight_map.items()) {  // nlohmann objects iterate sorted by key
    if (!value.is_string()) {
      throw CheckpointError(where + ": weight_map entry for " + quote_name(name) +
                            " must be a shard file name (string)");
    }
    const std::string shard_name = value.get<std::string>();
    auto [it, inserted] = shard_numbers.try_emplace(shard_name, checkpoint.shards_.size());
    if (inserted) {
      if (!is_plain_relative(shard_name)) {
        throw CheckpointError(where + ": shard " + quote_name(shard_name) + " (for tensor " + quote_name(name) +
                              ") is not a file name inside the model directory");
      }
      auto shard = std::make_shared<Shard>();
      shard->path = model_dir / shard_name;
      shard->index_path = index_path;
      if (!fs::is_regular_file(shard->path, ec)) {
        throw CheckpointError(where + ": shard " + quote_name(shard_name) + " (for tensor " + quote_name(name) +
                              ") does not exist in " + model_dir.string());
      }
      checkpoint.shards_.push_back(std::move(shard));
    }
    checkpoint.shards_[it->second]->expected.push_back(name);
    checkpoint.names_.push_back(name);
    checkpoint.shard_of_.push_back(it->second);
  }
  // weight_map iterates in std::less<std::string> order, so names_ is already sorted.
  return checkpoint;
}

bool Checkpoint::contains(std::string_view name) const {
  return std::binary_search(names_.begin(), names_.end(), name, std::less<>());
}

const SafetensorsFile& Checkpoint::file_of(std::string_view name) const {
  const auto it = std::lower_bound(names_.begin(), names_.end(), name, std::less<>());
  if (it == names_.end() || *it != name) {
    throw CheckpointError(dir_.string() + ": no tensor " + quote_name(name) + " in the checkpoint");
  }
  return shards_[shard_of_[std::size_t(it - names_.begin())]]->get();
}

const TensorInfo& Checkpoint::info(std::string_view name) const { return file_of(name).info(name); }

torch::Tensor Checkpoint::view(std::string_view name) const {
  const SafetensorsFile& file = file_of(name);
  return file.view(file.info(name));
}

}  // namespace fpokit::lm
