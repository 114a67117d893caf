#include "fpokit/lm/arch/gpt2.h"

#include <cmath>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/model/attention.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/kv_cache.h"
#include "fpokit/lm/model/layers.h"

namespace fpokit::lm::arch::gpt2 {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelConfig& c, int64_t layer, const torch::TensorOptions& o)
      : heads(c.num_heads), head_dim(c.head_dim), scale(1.0) {
    // transformers' GPT2Attention.scaling.
    if (c.scale_attn_weights) scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    if (c.scale_attn_by_inverse_layer_idx) scale /= static_cast<double>(layer + 1);
    c_attn = register_module("c_attn", Conv1D(c.hidden_size, 3 * c.hidden_size, o));
    c_proj = register_module("c_proj", Conv1D(c.hidden_size, c.hidden_size, o));
  }

  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& mask, KVCache* cache, int64_t layer) {
    const int64_t b = x.size(0), t = x.size(1);
    // c_attn's output is [q | k | v], each of hidden_size = heads * head_dim.
    const auto qkv = c_attn(x).split(heads * head_dim, -1);
    const auto q = qkv[0].view({b, t, heads, head_dim}).transpose(1, 2);
    auto k = qkv[1].view({b, t, heads, head_dim}).transpose(1, 2);
    auto v = qkv[2].view({b, t, heads, head_dim}).transpose(1, 2);
    if (cache) std::tie(k, v) = cache->append(layer, k, v);
    const auto out = attention(q, k, v, mask, scale);
    return c_proj(out.transpose(1, 2).reshape({b, t, heads * head_dim}));
  }

  int64_t heads, head_dim;
  double scale;
  Conv1D c_attn{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(const ModelConfig& c, const torch::TensorOptions& o)
      : act(parse_activation(c.hidden_act, c.source.string())) {
    c_fc = register_module("c_fc", Conv1D(c.hidden_size, c.intermediate_size, o));
    c_proj = register_module("c_proj", Conv1D(c.intermediate_size, c.hidden_size, o));
  }
  torch::Tensor forward(const torch::Tensor& x) { return c_proj(apply_activation(act, c_fc(x))); }
  Activation act;
  Conv1D c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(Mlp);

struct BlockImpl : torch::nn::Module {
  BlockImpl(const ModelConfig& c, int64_t layer, const torch::TensorOptions& o) {
    ln_1 = register_module("ln_1", LayerNorm(c.hidden_size, c.norm_eps, o));
    attn = register_module("attn", Attention(c, layer, o));
    ln_2 = register_module("ln_2", LayerNorm(c.hidden_size, c.norm_eps, o));
    mlp = register_module("mlp", Mlp(c, o));
  }
  LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

struct TransformerImpl : torch::nn::Module {
  TransformerImpl(const ModelConfig& c, const torch::TensorOptions& o) {
    wte = register_module("wte", Embedding(c.vocab_size, c.hidden_size, o));
    wpe = register_module("wpe", Embedding(c.max_position_embeddings, c.hidden_size, o));
    h = register_module("h", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_layers; ++i) {
      blocks.push_back(Block(c, i, o));
      h->push_back(blocks.back());
    }
    ln_f = register_module("ln_f", LayerNorm(c.hidden_size, c.norm_eps, o));
  }
  Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::ModuleList h{nullptr};
  std::vector<Block> blocks;
  LayerNorm ln_f{nullptr};
};
TORCH_MODULE(Transformer);

class GPT2LMHeadModel : public CausalLMImpl {
 public:
  GPT2LMHeadModel(const ModelConfig& c, const torch::TensorOptions& o) : CausalLMImpl(c) {
    transformer_ = register_module("transformer", Transformer(c, o));
    register_lm_head("lm_head", transformer_->wte, o);
  }

  torch::Tensor hidden_states(const ForwardInput& input, Hooks* hooks, KVCache* cache) override {
    const auto& ids = input.input_ids;
    const int64_t t = ids.size(1);
    const int64_t past = cache ? cache->length() : 0;
    const bool packed = input.packed(cache);
    if (!packed && past + t > config_.max_position_embeddings) {
      throw InputError("GPT-2 input of " + std::to_string(past + t) + " positions exceeds n_positions (" +
                       std::to_string(config_.max_position_embeddings) + ") in " + config_.source.string());
    }
    // Learned absolute positions; with a cache they continue from the cached length, as HF's
    // position_ids = arange(past, past + t).
    const auto positions =
        packed ? input.position_ids
               : torch::arange(past, past + t, torch::TensorOptions(torch::kInt64).device(ids.device())).unsqueeze(0);
    if (packed && positions.numel() > 0 && positions.max().item<int64_t>() >= config_.max_position_embeddings)
      throw InputError("GPT-2 input with position " + std::to_string(positions.max().item<int64_t>()) +
                       " exceeds n_positions (" + std::to_string(config_.max_position_embeddings) + ") in " +
                       config_.source.string());
    auto h = transformer_->wte(ids) + transformer_->wpe(positions);
    const auto mask = packed
                          ? make_packed_attention_mask(input.position_ids, input.segment_ids, input.attention_mask, 0)
                          : make_attention_mask(t, past, input.attention_mask, 0, h.device());
    for (int64_t i = 0; i < config_.num_layers; ++i) {
      auto& block = transformer_->blocks[static_cast<size_t>(i)];
      if (hooks) h = hooks->apply(i, HookPoint::ResidPre, h);
      // Captured by value: a checkpointed block runs again in the backward, after forward returned
      // and `hooks` may be gone, so the body reaches the hooks only for a hook at hook_resid_mid,
      // which run_block never checkpoints.
      Hooks* const mid_hooks = hooks && hooks->has(i, HookPoint::ResidMid) ? hooks : nullptr;
      h = run_block(i, h, hooks, cache, [=](torch::Tensor x) mutable {
        x = x + block->attn->forward(block->ln_1(x), mask, cache, i);
        if (mid_hooks) x = mid_hooks->apply(i, HookPoint::ResidMid, x);
        return x + block->mlp(block->ln_2(x));
      });
      if (hooks) {
        h = hooks->apply(i, HookPoint::ResidPost, h);
        if (hooks->done_after(i)) return {};
      }
    }
    return transformer_->ln_f(h);
  }

  bool is_ignorable_checkpoint_tensor(const std::string& name) const override {
    if (CausalLMImpl::is_ignorable_checkpoint_tensor(name)) return true;
    // Causal-mask buffers that transformers < 4.x (and the OpenAI conversion) saved.
    return ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias");
  }

  std::vector<std::pair<std::string, std::string>> checkpoint_prefix_aliases() const override {
    return {{"transformer.", ""}};
  }

 private:
  Transformer transformer_{nullptr};
};

}  // namespace

ModelConfig parse_config(const ConfigReader& r) {
  ModelConfig c;
  r.read_common(c);
  c.vocab_size = r.integer("vocab_size");
  // GPT2Config's own names, with transformers' attribute_map aliases accepted as well.
  c.hidden_size = r.integer_any({"n_embd", "hidden_size"});
  c.num_layers = r.integer_any({"n_layer", "num_hidden_layers"});
  c.num_heads = r.integer_any({"n_head", "num_attention_heads"});
  c.num_kv_heads = c.num_heads;
  if (c.num_heads <= 0 || c.hidden_size % c.num_heads != 0) {
    r.fail("n_embd", "(" + std::to_string(c.hidden_size) + ") must be a multiple of n_head (" +
                         std::to_string(c.num_heads) + ")");
  }
  c.head_dim = c.hidden_size / c.num_heads;
  c.max_position_embeddings =
      r.has("n_positions") ? r.integer("n_positions") : r.integer("max_position_embeddings", 1024);
  c.intermediate_size = r.integer("n_inner", 4 * c.hidden_size);  // null means 4 * n_embd
  c.norm_eps = r.number("layer_norm_epsilon", 1e-5);
  c.hidden_act = r.string("activation_function", "gelu_new");
  parse_activation(c.hidden_act, r.source().string() + ": field 'activation_function'");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
  c.scale_attn_weights = r.boolean("scale_attn_weights", true);
  c.scale_attn_by_inverse_layer_idx = r.boolean("scale_attn_by_inverse_layer_idx", false);
  // reorder_and_upcast_attn only changes *where* HF's eager path scales and that it computes the
  // scores and softmax in float32; the result is the same function. The fused attention kernel
  // accumulates in float32 as well (and HF's default sdpa path ignores the flag), so it is
  // accepted either way.
  r.boolean("reorder_and_upcast_attn", false);
  if (r.boolean("add_cross_attention", false)) {
    r.fail("add_cross_attention", "is true: GPT-2 with cross-attention (an encoder-decoder part) is not supported");
  }
  return c;
}

CausalLM build(const ModelConfig& config, const torch::TensorOptions& options) {
  return std::make_shared<GPT2LMHeadModel>(config, options);
}

}  // namespace fpokit::lm::arch::gpt2
