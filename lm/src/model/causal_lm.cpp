#include "fpokit/lm/model/causal_lm.h"

#include <stdexcept>

#include <torch/torch.h>

#include "fpokit/lm/model/hooks.h"

namespace fpokit::lm {

torch::Tensor CausalLMImpl::forward(const ForwardInput& input, Hooks* hooks, KVCache* cache) {
  const auto hidden = hidden_states(input, hooks, cache);
  return hidden.defined() ? logits(hidden) : hidden;
}

bool ForwardInput::packed(const KVCache* cache) const {
  if (!position_ids.defined() && !segment_ids.defined()) return false;
  if (!position_ids.defined() || !segment_ids.defined())
    throw std::invalid_argument("packed rows need both position_ids and segment_ids");
  if (position_ids.sizes() != input_ids.sizes() || segment_ids.sizes() != input_ids.sizes())
    throw std::invalid_argument("position_ids and segment_ids must have input_ids' shape [batch, seq]");
  if (cache != nullptr) throw std::invalid_argument("packed rows cannot be used with a KV cache");
  return true;
}

torch::Tensor CausalLMImpl::logits(const torch::Tensor& hidden) {
  auto out = lm_head_ ? lm_head_(hidden) : torch::nn::functional::linear(hidden, tied_embedding_->weight);
  const double cap = config_.final_logit_softcapping;
  if (cap > 0.0) out = torch::tanh(out / cap) * cap;
  return out;
}

void CausalLMImpl::register_lm_head(const std::string& name, const Embedding& input_embedding,
                                    const torch::TensorOptions& options) {
  lm_head_name_ = name;
  if (config_.tie_word_embeddings) {
    tied_embedding_ = input_embedding;
  } else {
    lm_head_ = register_module(name, Linear(config_.hidden_size, config_.vocab_size, false, options));
  }
}

bool CausalLMImpl::is_ignorable_checkpoint_tensor(const std::string& name) const {
  return config_.tie_word_embeddings && name == lm_head_name_ + ".weight";
}

torch::Tensor CausalLMImpl::run_block(int64_t layer, const torch::Tensor& h, const Hooks* hooks, const KVCache* cache,
                                      const BlockFn& body) const {
  const bool checkpoint = gradient_checkpointing_ && is_training() && torch::GradMode::is_enabled() &&
                          cache == nullptr && !(hooks && hooks->has(layer, HookPoint::ResidMid));
  return checkpoint ? checkpoint_block(body, h) : body(h);
}

}  // namespace fpokit::lm
