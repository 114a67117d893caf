#pragma once
// The interface every architecture implements (lm/src/arch/<name>.cpp), a LibTorch module whose
// named_parameters() are exactly the HF checkpoint's tensor names, so that loading is a matter of
// matching names (see load_model.h). An architecture writes only its backbone (hidden_states); the
// LM head (untied or tied to the input embedding, and Gemma-2's final soft-cap) is this class's, so
// that code wanting logits for some positions only (generation's last one, a chunked log-prob
// path) calls logits() on those and no architecture file needs to know.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "fpokit/lm/checkpoint/model_config.h"
#include "fpokit/lm/model/activation_checkpoint.h"
#include "fpokit/lm/model/layers.h"

namespace fpokit::lm {

class Hooks;
class KVCache;

struct ForwardInput {
  torch::Tensor input_ids;  // [batch, seq] int64
  // [batch, past + seq], 1 for real tokens and 0 for padding; undefined = no padding. Batches are
  // right-padded: padded positions never serve as keys, and their own outputs are garbage that the
  // caller ignores.
  torch::Tensor attention_mask;
  // Packed rows, several sequences that share a prefix laid out in one row (fpo's shared prompt:
  // [prompt | chosen | rejected]): each token's position [batch, seq] int64 and segment
  // [batch, seq] int64, 0 for the shared prefix, which every later token sees, and k > 0 for a
  // branch, whose tokens see the prefix and the earlier tokens of their own branch only. A token
  // then computes what it computes in its own sequence laid out alone. Both or neither; never
  // with a KV cache. Undefined: positions 0.. (after the cache), one segment.
  torch::Tensor position_ids;
  torch::Tensor segment_ids;

  // Whether position_ids/segment_ids are given; std::invalid_argument when only one is, when
  // their shapes differ from input_ids', or with a cache.
  bool packed(const KVCache* cache) const;
};

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(ModelConfig config) : config_(std::move(config)) {}
  ~CausalLMImpl() override = default;

  const ModelConfig& config() const { return config_; }

  // Logits [batch, seq, vocab] in the model's dtype, or an undefined tensor when `hooks` stopped
  // the forward early: logits(hidden_states(input, hooks, cache)).
  torch::Tensor forward(const ForwardInput& input, Hooks* hooks = nullptr, KVCache* cache = nullptr);

  // The backbone: the hidden states [batch, seq, hidden] after the final norm (what the LM head
  // reads), or an undefined tensor when `hooks` stopped the forward early. With a cache, positions
  // continue from cache->length() and this step's keys and values are appended.
  virtual torch::Tensor hidden_states(const ForwardInput& input, Hooks* hooks = nullptr, KVCache* cache = nullptr) = 0;

  // The LM head on final hidden states [..., hidden]: logits [..., vocab] in the model's dtype
  // (the untied head, LoRA included, or the input embedding's transpose when the config ties
  // them), soft-capped by tanh(x / cap) * cap where the config has final_logit_softcapping.
  torch::Tensor logits(const torch::Tensor& hidden);

  // Activation checkpointing of every block while training (activation_checkpoint.h): less
  // activation memory for about one more forward per step. Results are unchanged.
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }

  // False for parallel-residual blocks, which have no blocks.L.hook_resid_mid.
  virtual bool has_resid_mid() const { return true; }

  // Checkpoint tensors that the model does not use and loading may skip (non-persistent buffers
  // that old checkpoints stored, such as rotary inv_freq or GPT-2's attn.bias masks, or the
  // lm_head.weight copy of a tied embedding).
  // This base skips the untied head's name when the config ties it to the embedding.
  virtual bool is_ignorable_checkpoint_tensor(const std::string& name) const;
  // Checkpoint name spellings to try when the canonical one is absent, e.g. the original GPT-2
  // checkpoints store "h.0.attn..." for "transformer.h.0.attn...". Returns (prefix, replacement).
  virtual std::vector<std::pair<std::string, std::string>> checkpoint_prefix_aliases() const { return {}; }

 protected:
  // Registers the LM head as `name` (HF's "lm_head"; GPT-NeoX's "embed_out"), or, when the config
  // ties word embeddings, reads `input_embedding` instead. Call in the constructor after the
  // backbone, so that parameters keep HF's order.
  void register_lm_head(const std::string& name, const Embedding& input_embedding, const torch::TensorOptions& options);

  // Block `layer`'s body, from blocks.L.hook_resid_pre to (before) hook_resid_post: checkpointed
  // when checkpointing is on, the module trains with grad mode on, and nothing inside the body
  // keeps intermediates (no KV cache, no hook at blocks.L.hook_resid_mid); else simply body(h).
  torch::Tensor run_block(int64_t layer, const torch::Tensor& h, const Hooks* hooks, const KVCache* cache,
                          const BlockFn& body) const;

  ModelConfig config_;
  bool gradient_checkpointing_ = false;

 private:
  std::string lm_head_name_;
  Linear lm_head_{nullptr};
  Embedding tied_embedding_{nullptr};
};

using CausalLM = std::shared_ptr<CausalLMImpl>;

}  // namespace fpokit::lm
