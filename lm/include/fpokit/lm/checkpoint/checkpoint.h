#pragma once
// A HuggingFace checkpoint directory: model.safetensors, or the shards listed by
// model.safetensors.index.json ("weight_map": tensor name -> shard file). Shards are opened
// lazily and each once.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fpokit/lm/checkpoint/safetensors.h"

namespace fpokit::lm {

class Checkpoint {
 public:
  // Prefers model.safetensors when both it and the index exist (as transformers does). Throws
  // CheckpointError when the directory holds neither file, model.safetensors is corrupt, or the
  // index is invalid (not JSON, no weight_map, a shard that does not exist). A shard is opened and
  // checked (a corrupt file, a tensor the index maps to it but it does not hold) on first use:
  // info(), file_of() and view() throw CheckpointError then.
  static Checkpoint open(const std::filesystem::path& model_dir);

  const std::filesystem::path& directory() const { return dir_; }
  const std::vector<std::string>& names() const { return names_; }  // sorted
  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;  // throws CheckpointError if absent
  const SafetensorsFile& file_of(std::string_view name) const;
  torch::Tensor view(std::string_view name) const;      // aliases the mapping, CPU

 private:
  struct Shard;
  std::filesystem::path dir_;
  std::vector<std::string> names_;
  std::vector<std::shared_ptr<Shard>> shards_;
  std::vector<std::size_t> shard_of_;  // parallel to names_
};

}  // namespace fpokit::lm
