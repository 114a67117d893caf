#pragma once
// The typed configuration of a causal LM, parsed from config.json by the architecture's parser
// (see architecture_registry.h). One struct serves every architecture; fields that an
// architecture does not use keep their defaults. Both key styles are accepted: the one most hub
// checkpoints carry (rope_theta, rope_scaling, torch_dtype, rotary_pct, no layer_types) and the one
// recent transformers versions write (rope_parameters, dtype, layer_types).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>


namespace fpokit::lm {

enum class RopeScaling { None, Linear, Llama3, Dynamic };

struct RopeConfig {
  double theta = 10000.0;
  RopeScaling scaling = RopeScaling::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  int64_t original_max_position_embeddings = 0;  // llama3 / dynamic
  double partial_rotary_factor = 1.0;  // fraction of head_dim that is rotated (GPT-NeoX rotary_pct)
};

enum class LayerKind { FullAttention, SlidingAttention };

struct ModelConfig {
  std::filesystem::path source;     // the config.json it came from, for error messages
  std::string architecture;         // the registry entry, e.g. "LlamaForCausalLM"
  std::string model_type;           // config.json's model_type

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-6;
  std::string hidden_act = "silu";

  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool attention_bias = false;      // bias on q/k/v (Qwen2 always; Llama's attention_bias)
  bool attention_out_bias = false;  // bias on o_proj (Llama's attention_bias also covers o_proj)
  bool mlp_bias = false;

  // Per layer; empty means every layer is FullAttention.
  std::vector<LayerKind> layer_kinds;
  int64_t sliding_window = 0;       // 0: none

  // Gemma-2.
  double attn_logit_softcapping = 0.0;   // 0: off
  double final_logit_softcapping = 0.0;  // 0: off
  double query_pre_attn_scalar = 0.0;    // 0: use head_dim

  // GPT-NeoX.
  bool use_parallel_residual = false;

  // GPT-2: attention scores times 1/sqrt(head_dim) (scale_attn_weights), and additionally times
  // 1/(layer + 1) (scale_attn_by_inverse_layer_idx).
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;

  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  std::string torch_dtype = "float32";  // the checkpoint's declared dtype

  bool is_sliding(int64_t layer) const {
    return !layer_kinds.empty() && layer_kinds.at(static_cast<size_t>(layer)) == LayerKind::SlidingAttention;
  }
};

}  // namespace fpokit::lm
