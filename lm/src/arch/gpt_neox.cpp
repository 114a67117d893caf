#include "fpokit/lm/arch/gpt_neox.h"

#include <cmath>

#include <torch/torch.h>

#include "fpokit/lm/model/attention.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/kv_cache.h"
#include "fpokit/lm/model/layers.h"
#include "fpokit/lm/model/rotary.h"

namespace fpokit::lm::arch::gpt_neox {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o) : heads(c.num_heads), head_dim(c.head_dim) {
    query_key_value = register_module("query_key_value", Linear(c.hidden_size, 3 * c.hidden_size, c.attention_bias, o));
    dense = register_module("dense", Linear(c.hidden_size, c.hidden_size, c.attention_out_bias, o));
  }

  torch::Tensor forward(const torch::Tensor& x, const RotaryEmbedding& rope, const torch::Tensor& cos,
                        const torch::Tensor& sin, const AttentionMask& mask, KVCache* cache, int64_t layer) {
    const int64_t b = x.size(0), t = x.size(1);
    // The fused projection is laid out per head: [q_0 k_0 v_0 | q_1 k_1 v_1 | ...], each head_dim
    // wide (Megatron's layout), not [q | k | v] as GPT-2's c_attn.
    const auto qkv = query_key_value(x).view({b, t, heads, 3 * head_dim}).transpose(1, 2).chunk(3, -1);
    const auto q = rope.apply(qkv[0], cos, sin);
    auto k = rope.apply(qkv[1], cos, sin);
    auto v = qkv[2];
    if (cache) std::tie(k, v) = cache->append(layer, k, v);
    const auto out = attention(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(head_dim)));
    return dense(out.transpose(1, 2).reshape({b, t, heads * head_dim}));
  }

  int64_t heads, head_dim;
  Linear query_key_value{nullptr}, dense{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(const ModelConfig& c, const torch::TensorOptions& o)
      : act(parse_activation(c.hidden_act, c.source.string())) {
    dense_h_to_4h = register_module("dense_h_to_4h", Linear(c.hidden_size, c.intermediate_size, true, o));
    dense_4h_to_h = register_module("dense_4h_to_h", Linear(c.intermediate_size, c.hidden_size, true, o));
  }
  torch::Tensor forward(const torch::Tensor& x) { return dense_4h_to_h(apply_activation(act, dense_h_to_4h(x))); }
  Activation act;
  Linear dense_h_to_4h{nullptr}, dense_4h_to_h{nullptr};
};
TORCH_MODULE(Mlp);

struct LayerImpl : torch::nn::Module {
  LayerImpl(const ModelConfig& c, const torch::TensorOptions& o) {
    input_layernorm = register_module("input_layernorm", LayerNorm(c.hidden_size, c.norm_eps, o));
    post_attention_layernorm = register_module("post_attention_layernorm", LayerNorm(c.hidden_size, c.norm_eps, o));
    attention = register_module("attention", Attention(c, o));
    mlp = register_module("mlp", Mlp(c, o));
  }
  LayerNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention attention{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Layer);

struct BackboneImpl : torch::nn::Module {
  BackboneImpl(const ModelConfig& c, const torch::TensorOptions& o) {
    embed_in = register_module("embed_in", Embedding(c.vocab_size, c.hidden_size, o));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_layers; ++i) {
      blocks.push_back(Layer(c, o));
      layers->push_back(blocks.back());
    }
    final_layer_norm = register_module("final_layer_norm", LayerNorm(c.hidden_size, c.norm_eps, o));
  }
  Embedding embed_in{nullptr};
  torch::nn::ModuleList layers{nullptr};
  std::vector<Layer> blocks;
  LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(Backbone);

class GPTNeoXForCausalLM : public CausalLMImpl {
 public:
  GPTNeoXForCausalLM(const ModelConfig& c, const torch::TensorOptions& o)
      : CausalLMImpl(c), rope_(c.rope, c.head_dim, c.max_position_embeddings) {
    gpt_neox_ = register_module("gpt_neox", Backbone(c, o));
    register_lm_head("embed_out", gpt_neox_->embed_in, o);
  }

  torch::Tensor hidden_states(const ForwardInput& input, Hooks* hooks, KVCache* cache) override {
    const auto& ids = input.input_ids;
    const int64_t t = ids.size(1);
    const int64_t past = cache ? cache->length() : 0;
    auto h = gpt_neox_->embed_in(ids);
    // Tensors, not a structured binding: the block lambda captures them, which clang before 16 refuses.
    const bool packed = input.packed(cache);
    const auto cos_sin = packed ? rope_.cos_sin_at(input.position_ids, h.scalar_type())
                                : rope_.cos_sin(past, t, h.scalar_type(), h.device());
    const torch::Tensor cos = cos_sin.first, sin = cos_sin.second;
    const auto mask = packed
                          ? make_packed_attention_mask(input.position_ids, input.segment_ids, input.attention_mask, 0)
                          : make_attention_mask(t, past, input.attention_mask, 0, h.device());
    const bool parallel = config_.use_parallel_residual;
    for (int64_t i = 0; i < config_.num_layers; ++i) {
      auto& layer = gpt_neox_->blocks[static_cast<size_t>(i)];
      if (hooks) h = hooks->apply(i, HookPoint::ResidPre, h);
      // Captured by value: a checkpointed block runs again in the backward, after forward returned
      // and `hooks` may be gone, so the body reaches the hooks only for a hook at hook_resid_mid,
      // which run_block never checkpoints.
      Hooks* const mid_hooks = hooks && hooks->has(i, HookPoint::ResidMid) ? hooks : nullptr;
      h = run_block(i, h, hooks, cache, [=, this](torch::Tensor x) mutable {
        const auto attn = layer->attention->forward(layer->input_layernorm(x), rope_, cos, sin, mask, cache, i);
        // Parallel: both branches read the block input; summed in HF's order (mlp + attn + x).
        if (parallel) return layer->mlp(layer->post_attention_layernorm(x)) + attn + x;
        x = attn + x;
        if (mid_hooks) x = mid_hooks->apply(i, HookPoint::ResidMid, x);
        return layer->mlp(layer->post_attention_layernorm(x)) + x;
      });
      if (hooks) {
        h = hooks->apply(i, HookPoint::ResidPost, h);
        if (hooks->done_after(i)) return {};
      }
    }
    return gpt_neox_->final_layer_norm(h);
  }

  bool has_resid_mid() const override { return !config_.use_parallel_residual; }

  bool is_ignorable_checkpoint_tensor(const std::string& name) const override {
    if (CausalLMImpl::is_ignorable_checkpoint_tensor(name)) return true;
    if (config_.tie_word_embeddings && name == "lm_head.weight") return true;
    // Buffers that older transformers versions saved: the causal mask (attention.bias,
    // attention.masked_bias) and the rotary frequencies.
    return ends_with(name, ".attention.bias") || ends_with(name, ".attention.masked_bias") ||
           ends_with(name, ".inv_freq");
  }

  // Checkpoints written by transformers >= 5 without its save-time renaming call the output
  // projection lm_head.
  std::vector<std::pair<std::string, std::string>> checkpoint_prefix_aliases() const override {
    return {{"embed_out.", "lm_head."}};
  }

 private:
  RotaryEmbedding rope_;
  Backbone gpt_neox_{nullptr};
};

}  // namespace

ModelConfig parse_config(const ConfigReader& r) {
  ModelConfig c;
  r.read_common(c);
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.intermediate_size = r.integer("intermediate_size");
  c.num_layers = r.integer("num_hidden_layers");
  c.num_heads = r.integer("num_attention_heads");
  c.num_kv_heads = c.num_heads;
  if (c.num_heads <= 0 || c.hidden_size % c.num_heads != 0) {
    r.fail("hidden_size", "(" + std::to_string(c.hidden_size) + ") must be a multiple of num_attention_heads (" +
                              std::to_string(c.num_heads) + ")");
  }
  c.head_dim = c.hidden_size / c.num_heads;
  c.max_position_embeddings = r.integer("max_position_embeddings", 2048);
  c.norm_eps = r.number("layer_norm_eps", 1e-5);
  c.hidden_act = r.string("hidden_act", "gelu");
  parse_activation(c.hidden_act, r.source().string() + ": field 'hidden_act'");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.use_parallel_residual = r.boolean("use_parallel_residual", true);
  // GPTNeoXConfig.attention_bias covers query_key_value and dense; the MLP always has biases.
  c.attention_bias = r.boolean("attention_bias", true);
  c.attention_out_bias = c.attention_bias;
  c.mlp_bias = true;

  // RoPE type and factor come from rope_parameters (or the older rope_scaling) as for every
  // architecture. GPTNeoXConfig then takes theta and the rotated fraction from that dict, else
  // from its own legacy keys rotary_emb_base / rotary_pct, else 10000 / 0.25; top-level rope_theta
  // and partial_rotary_factor are ignored (transformers 5 does so too).
  r.read_rope(c, 10000.0);
  const std::string key = r.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  const nlohmann::json no_params = nlohmann::json::object();
  const ConfigReader params(r.has(key) ? r.json().at(key) : no_params, r.source());
  c.rope.theta = params.has("rope_theta") ? params.number("rope_theta") : r.number("rotary_emb_base", 10000.0);
  const std::string fraction_key = params.has("partial_rotary_factor") ? key + ".partial_rotary_factor" : "rotary_pct";
  c.rope.partial_rotary_factor =
      params.has("partial_rotary_factor") ? params.number("partial_rotary_factor") : r.number("rotary_pct", 0.25);
  if (c.rope.partial_rotary_factor <= 0.0 || c.rope.partial_rotary_factor > 1.0) {
    r.fail(fraction_key, "must be in (0, 1], got " + std::to_string(c.rope.partial_rotary_factor));
  }
  const auto rotary_dim = static_cast<int64_t>(static_cast<double>(c.head_dim) * c.rope.partial_rotary_factor);
  if (rotary_dim <= 0 || rotary_dim % 2 != 0) {
    r.fail(fraction_key, "gives " + std::to_string(rotary_dim) + " rotary dimensions of head_dim " +
                             std::to_string(c.head_dim) + "; a positive even number is required");
  }
  return c;
}

CausalLM build(const ModelConfig& config, const torch::TensorOptions& options) {
  return std::make_shared<GPTNeoXForCausalLM>(config, options);
}

}  // namespace fpokit::lm::arch::gpt_neox
