#include "fpokit/lm/model/causal_lm.h"

#include <torch/torch.h>

#include "fpokit/lm/model/hooks.h"

namespace fpokit::lm {

torch::Tensor CausalLMImpl::run_block(int64_t layer, const torch::Tensor& h, const Hooks* hooks, const KVCache* cache,
                                      const BlockFn& body) const {
  const bool checkpoint = gradient_checkpointing_ && is_training() && torch::GradMode::is_enabled() && cache == nullptr &&
                          !(hooks && hooks->has(layer, HookPoint::ResidMid));
  return checkpoint ? checkpoint_block(body, h) : body(h);
}

}  // namespace fpokit::lm
