#pragma once
// Reading and writing SAEs in the public toolkits' on-disk formats (docs/sae.md, 'File formats').
//
// SAELens v6 folder:  <dir>/cfg.json + <dir>/sae_weights.safetensors
//   W_enc [d_in,d_sae], W_dec [d_sae,d_in], b_enc [d_sae], b_dec [d_in], threshold [d_sae]
//   (jumprelu; a BatchTopK SAE is written as jumprelu with threshold = θ·ones, as SAELens does).
// sparsify hookpoint folder (e.g. layers.3/): cfg.json {"activation": "topk", "k", "d_in",
//   "num_latents"|"expansion_factor", ...} + sae.safetensors with encoder.weight [F,d],
//   encoder.bias [F], W_dec [F,d], b_dec [d]; loaded as TopK with W_enc = encoder.weightᵀ.
// Gemma Scope params.npz: W_enc [d,F], W_dec [F,d], b_enc [F], b_dec [d], threshold [F]; JumpReLU
//   with apply_b_dec_to_input = false.
// Every reader checks all shapes against one d_in/d_sae and throws CheckpointError naming the
// file and the tensor (or ConfigError for cfg.json).
#include <filesystem>

#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::sae {

enum class SaeFormat { SAELens, Sparsify, GemmaScope };

// Writes the SAELens layout into `dir` atomically: everything goes to a sibling temporary
// folder that is then renamed over `dir` (an existing `dir` is replaced). The SAE must have its
// activation scale folded (call fold_activation_scale() first) unless normalization is None.
void save_saelens(const SparseAutoencoderImpl& sae, const std::filesystem::path& dir);

SparseAutoencoder load_saelens(const std::filesystem::path& dir);
SparseAutoencoder load_sparsify(const std::filesystem::path& dir);
// `path` is params.npz or a folder holding it.
SparseAutoencoder load_gemma_scope(const std::filesystem::path& path);

// Which format `path` holds: a .npz file or a folder with params.npz (Gemma Scope), a folder
// with sae_weights.safetensors (SAELens) or with sae.safetensors (sparsify). Throws
// CheckpointError when none matches.
SaeFormat detect_format(const std::filesystem::path& path);
SparseAutoencoder load_sae(const std::filesystem::path& path);

}  // namespace fpokit::sae
