#include "fpokit/lm/model/padded_batch.h"

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_file.h"

namespace fpokit::lm {

PaddedBatch make_padded_batch(const std::vector<std::vector<int64_t>>& sequences, int64_t vocab_size, int64_t pad_id,
                              const std::string& source) {
  if (sequences.empty()) throw InputError(source + ": the batch is empty (expected a list of token-id lists)");
  size_t longest = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].empty()) throw InputError(source + ": sequence " + std::to_string(i) + " is empty");
    for (int64_t id : sequences[i]) {
      if (id < 0 || id >= vocab_size) {
        throw InputError(source + ": sequence " + std::to_string(i) + " has token id " + std::to_string(id) +
                         " outside the model's vocabulary [0, " + std::to_string(vocab_size) + ")");
      }
    }
    longest = std::max(longest, sequences[i].size());
  }
  const auto b = static_cast<int64_t>(sequences.size());
  const auto t = static_cast<int64_t>(longest);
  auto ids = torch::full({b, t}, pad_id, torch::kInt64);
  auto mask = torch::zeros({b, t}, torch::kInt64);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& seq = sequences[static_cast<size_t>(i)];
    for (size_t j = 0; j < seq.size(); ++j) {
      ids_a[i][static_cast<int64_t>(j)] = seq[j];
      mask_a[i][static_cast<int64_t>(j)] = 1;
    }
  }
  return {ids, mask};
}

std::vector<std::vector<int64_t>> read_token_id_lists(const std::filesystem::path& path) {
  const nlohmann::json json = [&] {
    try {
      return core::read_json_file(path);
    } catch (const ConfigError& e) {
      throw InputError(e.what());
    }
  }();
  const auto bad = [&](const std::string& what) {
    return InputError(path.string() + ": " + what + " (expected a JSON list of token-id lists, e.g. [[1, 2], [3]])");
  };
  if (!json.is_array()) throw bad("not a list");
  std::vector<std::vector<int64_t>> out;
  const auto read_ids = [&](const nlohmann::json& list, size_t index) {
    std::vector<int64_t> ids;
    for (const auto& id : list) {
      if (!id.is_number_integer()) throw bad("sequence " + std::to_string(index) + " holds " + id.dump());
      ids.push_back(id.get<int64_t>());
    }
    return ids;
  };
  if (!json.empty() && json.front().is_number_integer()) {
    out.push_back(read_ids(json, 0));
    return out;
  }
  for (size_t i = 0; i < json.size(); ++i) {
    if (!json[i].is_array()) throw bad("item " + std::to_string(i) + " is not a list");
    out.push_back(read_ids(json[i], i));
  }
  return out;
}

}  // namespace fpokit::lm
