#include "fpokit/lm/arch/gemma2.h"

#include <cmath>

#include <torch/torch.h>

#include "fpokit/lm/model/attention.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/kv_cache.h"
#include "fpokit/lm/model/layers.h"
#include "fpokit/lm/model/rotary.h"

namespace fpokit::lm::arch::gemma2 {

namespace {

// Gemma2Config's soft-capping values: absent means the default, null means off (0).
double softcap_value(const ConfigReader& r, const std::string& key, double fallback) {
  if (!r.json().contains(key)) return fallback;
  return r.number(key, 0.0);
}

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o)
      : heads(c.num_heads),
        kv_heads(c.num_kv_heads),
        head_dim(c.head_dim),
        scale(std::pow(c.query_pre_attn_scalar, -0.5)),
        softcap(c.attn_logit_softcapping) {
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
    const auto out = attention(q, k, v, mask, scale, softcap);
    return o_proj(out.transpose(1, 2).reshape({b, t, heads * head_dim}));
  }

  int64_t heads, kv_heads, head_dim;
  double scale, softcap;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(const ModelConfig& c, const torch::TensorOptions& o)
      : act(parse_activation(c.hidden_act, c.source.string())) {
    gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, false, o));
    up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, false, o));
    down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, false, o));
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
    const auto norm = [&](const char* name) {
      return register_module(name, RMSNorm(c.hidden_size, c.norm_eps, /*unit_offset=*/true, o));
    };
    input_layernorm = norm("input_layernorm");
    post_attention_layernorm = norm("post_attention_layernorm");
    pre_feedforward_layernorm = norm("pre_feedforward_layernorm");
    post_feedforward_layernorm = norm("post_feedforward_layernorm");
  }
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  RMSNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};
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
    norm = register_module("norm", RMSNorm(c.hidden_size, c.norm_eps, /*unit_offset=*/true, o));
  }
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  std::vector<DecoderLayer> blocks;
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Backbone);

class Gemma2ForCausalLM : public CausalLMImpl {
 public:
  Gemma2ForCausalLM(const ModelConfig& c, const torch::TensorOptions& o)
      : CausalLMImpl(c), rope_(c.rope, c.head_dim, c.max_position_embeddings) {
    model_ = register_module("model", Backbone(c, o));
    register_lm_head("lm_head", model_->embed_tokens, o);
  }

  torch::Tensor hidden_states(const ForwardInput& input, Hooks* hooks, KVCache* cache) override {
    const auto& ids = input.input_ids;
    const int64_t t = ids.size(1);
    const int64_t past = cache ? cache->length() : 0;
    auto h = model_->embed_tokens(ids);
    // HF keeps sqrt(hidden_size) as a float32 scalar and casts it to the weights' dtype before
    // multiplying, so in bfloat16 sqrt(3072) = 55.43 becomes 55.5; do the same.
    const auto normalizer = torch::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)),
                                                 torch::TensorOptions(torch::kFloat32).device(h.device()))
                                .to(h.scalar_type());
    h = h * normalizer;
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
        const auto attn = layer->self_attn->forward(layer->input_layernorm(x), rope_, cos, sin, mask, cache, i);
        x = x + layer->post_attention_layernorm(attn);
        if (mid_hooks) x = mid_hooks->apply(i, HookPoint::ResidMid, x);
        return x + layer->post_feedforward_layernorm(layer->mlp(layer->pre_feedforward_layernorm(x)));
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

// Gemma2Config (transformers 5.x). Absent keys take that class's defaults, which differ from
// Llama's: head_dim 256 rather than hidden_size / heads, tied embeddings, soft-capping on.
ModelConfig parse_config(const ConfigReader& r) {
  ModelConfig c;
  r.read_common(c);
  // Gemma2Config's special-token defaults apply when the keys are absent (null means none).
  if (!r.json().contains("bos_token_id")) c.bos_token_id = 2;
  if (!r.json().contains("eos_token_id")) c.eos_token_ids = {1};
  if (!r.json().contains("pad_token_id")) c.pad_token_id = 0;
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.intermediate_size = r.integer("intermediate_size");
  c.num_layers = r.integer("num_hidden_layers");
  c.num_heads = r.integer("num_attention_heads");
  c.num_kv_heads = r.integer("num_key_value_heads", 4);
  c.head_dim = r.integer("head_dim", 256);
  c.max_position_embeddings = r.integer("max_position_embeddings", 8192);
  c.norm_eps = r.number("rms_norm_eps", 1e-6);
  // HF reads only hidden_activation and ignores hidden_act, which old configs carry (the first
  // Gemma config said "gelu" for a model trained with the tanh approximation).
  c.hidden_act = r.string("hidden_activation", "gelu_pytorch_tanh");
  parse_activation(c.hidden_act, r.source().string() + ": field 'hidden_activation'");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
  c.attention_bias = r.boolean("attention_bias", false);  // on q, k, v and o alike
  c.attention_out_bias = c.attention_bias;
  c.query_pre_attn_scalar = r.number("query_pre_attn_scalar", 256.0);
  if (c.query_pre_attn_scalar <= 0.0) r.fail("query_pre_attn_scalar", "must be positive");
  c.attn_logit_softcapping = softcap_value(r, "attn_logit_softcapping", 50.0);
  c.final_logit_softcapping = softcap_value(r, "final_logit_softcapping", 30.0);
  if (c.attn_logit_softcapping < 0.0) r.fail("attn_logit_softcapping", "must be positive or null");
  if (c.final_logit_softcapping < 0.0) r.fail("final_logit_softcapping", "must be positive or null");
  if (r.boolean("use_bidirectional_attention", false)) {
    r.fail("use_bidirectional_attention", "is true; fpokit supports only causal Gemma-2 models");
  }
  r.read_rope(c, 10000.0);
  // Without layer_types, HF slides the window on even layers (0, 2, ...) and attends fully on odd.
  std::vector<LayerKind> kinds;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    kinds.push_back(i % 2 == 0 ? LayerKind::SlidingAttention : LayerKind::FullAttention);
  }
  r.read_layer_kinds(c, kinds);
  // Absent: the default window; null: no window (HF refuses to build the mask then; full
  // attention on every layer is the only meaningful reading).
  c.sliding_window = r.json().contains("sliding_window") ? r.integer("sliding_window", 0) : 4096;
  if (c.sliding_window < 0) r.fail("sliding_window", "must be positive or null");
  if (c.sliding_window == 0) {
    for (auto& k : c.layer_kinds) k = LayerKind::FullAttention;
  }
  return c;
}

CausalLM build(const ModelConfig& config, const torch::TensorOptions& options) {
  return std::make_shared<Gemma2ForCausalLM>(config, options);
}

}  // namespace fpokit::lm::arch::gemma2
