#pragma once
// `fpokit sae encode`: an SAE's feature activations for users' own analyses, as safetensors.
//   sparse (default): CSR  indptr int64 [N+1], indices int32 [nnz], values float32 [nnz]
//                     (row t's features are indices[indptr[t]:indptr[t+1]], ascending)
//   dense:            features float32 [N, d_sae]
//   reconstruction:   reconstruction float32 [N, d_in] (raw activation space)
// plus, when known, token_ids and positions [N] int64.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::sae {

struct EncodeOptions {
  bool dense = false;
  bool reconstruction = false;
  int64_t batch_rows = 4096;
};

// activations: [N, d_in] raw. `extra` tensors (token ids, positions) are written as they are.
// Throws InputError when d_in does not match the SAE.
void encode_activations(const SparseAutoencoderImpl& sae, const torch::Tensor& activations,
                        const std::filesystem::path& out, const EncodeOptions& options,
                        const std::vector<std::pair<std::string, torch::Tensor>>& extra = {},
                        const std::map<std::string, std::string>& metadata = {});

// Reads the `activations` tensor [tokens, d_in] of a safetensors file; InputError naming the file
// when it is missing or not 2-D.
torch::Tensor read_activations_tensor(const std::filesystem::path& path);

}  // namespace fpokit::sae
