#pragma once
// A right-padded batch of token-id sequences: ids [B, T] (padding filled with pad_id) and
// attention_mask [B, T] (1 = real token, 0 = padding), T = the longest sequence.
#include <cstdint>
#include <filesystem>
#include <vector>

#include <torch/types.h>

namespace fpokit::lm {

struct PaddedBatch {
  torch::Tensor input_ids;       // int64 [B, T]
  torch::Tensor attention_mask;  // int64 [B, T]
};

// Throws InputError (naming `source`) for an empty batch, an empty sequence, or an id outside
// [0, vocab_size).
PaddedBatch make_padded_batch(const std::vector<std::vector<int64_t>>& sequences, int64_t vocab_size,
                              int64_t pad_id = 0, const std::string& source = "input");

// Reads a JSON file holding a list of token-id lists (or one flat list, a batch of one).
std::vector<std::vector<int64_t>> read_token_id_lists(const std::filesystem::path& path);

}  // namespace fpokit::lm
