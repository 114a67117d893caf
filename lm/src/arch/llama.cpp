#include "fpokit/lm/arch/llama.h"

#include <cmath>

#include <torch/torch.h>

#include "fpokit/lm/model/attention.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/kv_cache.h"
#include "fpokit/lm/model/layers.h"
#include "fpokit/lm/model/rotary.h"

namespace fpokit::lm::arch::llama {

namespace {

// Fields shared by the three configs (transformers' LlamaConfig, MistralConfig, Qwen2Config).
ModelConfig parse_common(const ConfigReader& r) {
  ModelConfig c;
  r.read_common(c);
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.intermediate_size = r.integer("intermediate_size");
  c.num_layers = r.integer("num_hidden_layers");
  c.num_heads = r.integer("num_attention_heads");
  c.num_kv_heads = r.integer("num_key_value_heads", c.num_heads);
  c.head_dim = r.integer("head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.max_position_embeddings = r.integer("max_position_embeddings", 2048);
  c.norm_eps = r.number("rms_norm_eps", 1e-6);
  c.hidden_act = r.string("hidden_act", "silu");
  parse_activation(c.hidden_act, r.source().string() + ": field 'hidden_act'");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  r.read_rope(c, 10000.0);
  return c;
}

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o)
      : heads(c.num_heads), kv_heads(c.num_kv_heads), head_dim(c.head_dim) {
    q_proj = register_module("q_proj", Linear(c.hidden_size, heads * head_dim, c.attention_bias, o));
    k_proj = register_module("k_proj", Linear(c.hidden_size, kv_heads * head_dim, c.attention_bias, o));
    v_proj = register_module("v_proj", Linear(c.hidden_size, kv_heads * head_dim, c.attention_bias, o));
    o_proj = register_module("o_proj", Linear(heads * head_dim, c.hidden_size, c.attention_out_bias, o));
  }

  torch::Tensor forward(const torch::Tensor& x, const RotaryEmbedding& rope, const torch::Tensor& cos,
                        const torch::Tensor& sin, const AttentionMask& mask, KVCache* cache, int64_t layer) {
    const int64_t b = x.size(0), t = x.size(1);
    auto q = q_proj(x).view({b, t, heads, head_dim}).transpose(1, 2);
    auto k = k_proj(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);
    auto v = v_proj(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);
    q = rope.apply(q, cos, sin);
    k = rope.apply(k, cos, sin);
    if (cache) std::tie(k, v) = cache->append(layer, k, v);
    const auto out = attention(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(head_dim)));
    return o_proj(out.transpose(1, 2).reshape({b, t, heads * head_dim}));
  }

  int64_t heads, kv_heads, head_dim;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(const ModelConfig& c, const torch::TensorOptions& o)
      : act(parse_activation(c.hidden_act, c.source.string())) {
    gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, o));
    up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, o));
    down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias, o));
  }
  torch::Tensor forward(const torch::Tensor& x) { return down_proj(apply_activation(act, gate_proj(x)) * up_proj(x)); }
  Activation act;
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o) {
    self_attn = register_module("self_attn", Attention(c, o));
    mlp = register_module("mlp", Mlp(c, o));
    input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.norm_eps, false, o));
    post_attention_layernorm =
        register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.norm_eps, false, o));
  }
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

struct BackboneImpl : torch::nn::Module {
  BackboneImpl(const ModelConfig& c, const torch::TensorOptions& o) {
    embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, o));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_layers; ++i) {
      blocks.push_back(DecoderLayer(c, o));
      layers->push_back(blocks.back());
    }
    norm = register_module("norm", RMSNorm(c.hidden_size, c.norm_eps, false, o));
  }
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  std::vector<DecoderLayer> blocks;
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Backbone);

class LlamaForCausalLM : public CausalLMImpl {
 public:
  LlamaForCausalLM(const ModelConfig& c, const torch::TensorOptions& o)
      : CausalLMImpl(c), rope_(c.rope, c.head_dim, c.max_position_embeddings) {
    model_ = register_module("model", Backbone(c, o));
    register_lm_head("lm_head", model_->embed_tokens, o);
  }

  torch::Tensor hidden_states(const ForwardInput& input, Hooks* hooks, KVCache* cache) override {
    const auto& ids = input.input_ids;
    const int64_t t = ids.size(1);
    const int64_t past = cache ? cache->length() : 0;
    auto h = model_->embed_tokens(ids);
    // Tensors, not a structured binding: the block lambda captures them, which clang before 16 refuses.
    const bool packed = input.packed(cache);
    const auto cos_sin = packed ? rope_.cos_sin_at(input.position_ids, h.scalar_type())
                                : rope_.cos_sin(past, t, h.scalar_type(), h.device());
    const torch::Tensor cos = cos_sin.first, sin = cos_sin.second;
    const auto mask_for = [&](int64_t window) {
      return packed ? make_packed_attention_mask(input.position_ids, input.segment_ids, input.attention_mask, window)
                    : make_attention_mask(t, past, input.attention_mask, window, h.device());
    };
    const auto full_mask = mask_for(0);
    AttentionMask sliding_mask;
    if (config_.sliding_window > 0) sliding_mask = mask_for(config_.sliding_window);
    for (int64_t i = 0; i < config_.num_layers; ++i) {
      auto& layer = model_->blocks[static_cast<size_t>(i)];
      const auto& mask = config_.is_sliding(i) ? sliding_mask : full_mask;
      if (hooks) h = hooks->apply(i, HookPoint::ResidPre, h);
      // Captured by value: a checkpointed block runs again in the backward, after forward returned
      // and `hooks` may be gone, so the body reaches the hooks only for a hook at hook_resid_mid,
      // which run_block never checkpoints.
      Hooks* const mid_hooks = hooks && hooks->has(i, HookPoint::ResidMid) ? hooks : nullptr;
      h = run_block(i, h, hooks, cache, [=, this](torch::Tensor x) mutable {
        x = x + layer->self_attn->forward(layer->input_layernorm(x), rope_, cos, sin, mask, cache, i);
        if (mid_hooks) x = mid_hooks->apply(i, HookPoint::ResidMid, x);
        return x + layer->mlp(layer->post_attention_layernorm(x));
      });
      if (hooks) {
        h = hooks->apply(i, HookPoint::ResidPost, h);
        if (hooks->done_after(i)) return {};
      }
    }
    return model_->norm(h);
  }

  bool is_ignorable_checkpoint_tensor(const std::string& name) const override {
    return CausalLMImpl::is_ignorable_checkpoint_tensor(name) ||
           (name.size() > 9 && name.compare(name.size() - 9, 9, ".inv_freq") == 0);
  }

 private:
  RotaryEmbedding rope_;
  Backbone model_{nullptr};
};

}  // namespace

ModelConfig parse_llama_config(const ConfigReader& r) {
  ModelConfig c = parse_common(r);
  // LlamaConfig.attention_bias puts a bias on q, k, v and o.
  c.attention_bias = r.boolean("attention_bias", false);
  c.attention_out_bias = c.attention_bias;
  c.mlp_bias = r.boolean("mlp_bias", false);
  return c;
}

ModelConfig parse_mistral_config(const ConfigReader& r) {
  ModelConfig c = parse_common(r);
  // MistralConfig: a sliding window (or null) on every layer.
  c.sliding_window = r.integer("sliding_window", 0);
  if (c.sliding_window > 0) c.layer_kinds.assign(static_cast<size_t>(c.num_layers), LayerKind::SlidingAttention);
  r.read_layer_kinds(c, c.layer_kinds);
  return c;
}

ModelConfig parse_qwen2_config(const ConfigReader& r) {
  ModelConfig c = parse_common(r);
  c.attention_bias = true;  // Qwen2 always has a bias on q, k, v (not on o).
  // Qwen2Config: with use_sliding_window, layers from max_window_layers on use the window.
  std::vector<LayerKind> kinds(static_cast<size_t>(c.num_layers), LayerKind::FullAttention);
  if (r.boolean("use_sliding_window", false)) {
    c.sliding_window = r.integer("sliding_window", 0);
    const int64_t first = r.integer("max_window_layers", c.num_layers);
    for (int64_t i = first; i < c.num_layers; ++i) kinds[static_cast<size_t>(i)] = LayerKind::SlidingAttention;
  }
  r.read_layer_kinds(c, kinds);
  if (c.sliding_window == 0) {
    for (auto& k : c.layer_kinds) k = LayerKind::FullAttention;
  }
  return c;
}

CausalLM build(const ModelConfig& config, const torch::TensorOptions& options) {
  return std::make_shared<LlamaForCausalLM>(config, options);
}

}  // namespace fpokit::lm::arch::llama
