#pragma once
// The configuration of one sparse autoencoder, and its SAELens cfg.json form.
//
// SAELens v6 inference cfg.json (the form written here, field for field what SAELens 6.54's
// save_inference_model writes; tests/sae/test_sae_io.cpp compares):
//   {"architecture": "topk"|"standard"|"jumprelu"|"gated", "d_in", "d_sae", "dtype", "device",
//    "apply_b_dec_to_input", "normalize_activations", "reshape_activations", "k" (topk only),
//    "rescale_acts_by_decoder_norm" (topk only),
//    "metadata": {"sae_lens_version", "model_name", "hook_name", "hook_head_index", "context_size",
//                 "prepend_bos", "seqpos_slice", "model_from_pretrained_kwargs",
//                 "training_architecture", "training_architecture_details", ...}}
// A BatchTopK SAE is saved, as SAELens does, as "jumprelu" with training_architecture "batchtopk"
// and its k in training_architecture_details; a JumpReLU one keeps its STE bandwidth there as
// "jumprelu_bandwidth". fpokit also keeps its own keys under "metadata" (free-form in SAELens):
// "fpokit_architecture", "fpokit_k", "fpokit_activation_scale" and "fpokit_jumprelu_bandwidth".
// Where both say the same thing fpokit's key is read (fpokit writes both, equal; files from
// fpokit versions before it wrote SAELens's keys have only its own).
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace fpokit::sae {

enum class Architecture {
  TopK,       // keep the k largest ReLU'd pre-activations per token (Gao et al. 2024)
  BatchTopK,  // training: the k*B largest over the batch; inference: JumpReLU with one global θ
  ReLU,       // ReLU + decoder-norm-weighted L1 (SAELens "standard", Anthropic April 2024)
  JumpReLU,   // pre * (pre > θ_i), θ raw (not log), trained with the rectangle-kernel STE
  Gated,  // 1[π_gate > 0] · relu(π_mag), π_mag = (π_gate − b_gate)·e^r_mag + b_mag (Rajamanoharan et al. 2024)
};

// How activations are scaled before they enter the SAE (SAELens normalize_activations).
enum class ActivationNormalization {
  None,
  ExpectedAverageOnlyIn,  // x * s with s = sqrt(d_in) / E||x||; foldable into the weights
  ConstantNormRescale,    // per token x * sqrt(d_in) / ||x||, undone on the output
  LayerNorm,              // per token (x - mean) / (std + 1e-5), undone on the output
};

std::string_view architecture_name(Architecture a);  // "topk", "batchtopk", "relu", "jumprelu"
// Accepts the fpokit names and SAELens's "standard" (= relu); throws ConfigError otherwise.
Architecture parse_architecture(std::string_view name);
std::string_view normalization_name(ActivationNormalization n);  // the SAELens spelling
ActivationNormalization parse_normalization(std::string_view name);

struct SaeConfig {
  Architecture architecture = Architecture::TopK;
  int64_t d_in = 0;
  int64_t d_sae = 0;
  int64_t k = 0;  // TopK: per token; BatchTopK: average per token over the batch
  // SAELens subtracts b_dec from the input before encoding; Gemma Scope does not.
  bool apply_b_dec_to_input = true;
  ActivationNormalization normalization = ActivationNormalization::None;
  // For ExpectedAverageOnlyIn: the factor s the input is multiplied by (1 when folded).
  double activation_scale = 1.0;
  // Rectangle-kernel width of the JumpReLU straight-through estimator (SAELens v6 default).
  double jumprelu_bandwidth = 0.05;

  // Provenance (SAELens metadata).
  std::string model_name;
  std::string hook_name;  // TransformerLens name, e.g. "blocks.3.hook_resid_post"
  int64_t context_size = 0;
  bool prepend_bos = true;
  std::string dtype = "float32";

  // Throws ConfigError (prefixed with `where`) for non-positive sizes, k outside [1, d_sae] for
  // TopK/BatchTopK, or a non-positive scale or bandwidth.
  void validate(std::string_view where = "SAE config") const;

  nlohmann::json to_saelens_json() const;
  // `where` names the file in error messages. Reads SAELens v6 cfg.json (BatchTopK recognised by
  // training_architecture when its k is whole, else read as the JumpReLU it was saved as; the
  // fpokit metadata keys above); pre-6.0 flat configs with "activation_fn_str"/"hook_point" are
  // also accepted.
  static SaeConfig from_saelens_json(const nlohmann::json& j, std::string_view where);
};

}  // namespace fpokit::sae
