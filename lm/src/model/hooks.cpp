#include "fpokit/lm/model/hooks.h"

#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/model_config.h"

namespace fpokit::lm {

Hooks& Hooks::capture(const HookName& name) {
  return on_read(name, [this](const HookName& n, const torch::Tensor& x) { captured_[n] = x; });
}

Hooks& Hooks::on_read(const HookName& name, ReadFn fn) {
  reads_.emplace(name, std::move(fn));
  return *this;
}

Hooks& Hooks::on_write(const HookName& name, WriteFn fn) {
  writes_.emplace(name, std::move(fn));
  return *this;
}

Hooks& Hooks::stop_after_last_read(bool stop) {
  stop_after_last_read_ = stop;
  return *this;
}

void Hooks::validate(const ModelConfig& config, bool has_resid_mid) const {
  const auto check = [&](const HookName& name) {
    if (name.layer >= config.num_layers) {
      throw InputError("hook '" + name.str() + "': layer " + std::to_string(name.layer) +
                       " is out of range; the model (" + config.architecture + ") has layers 0.." +
                       std::to_string(config.num_layers - 1));
    }
    if (name.point == HookPoint::ResidMid && !has_resid_mid) {
      throw InputError("hook '" + name.str() + "': " + config.architecture +
                       " has parallel attention and MLP, so there is no hook_resid_mid; use "
                       "hook_resid_pre or hook_resid_post");
    }
  };
  for (const auto& [name, fn] : reads_) check(name);
  for (const auto& [name, fn] : writes_) check(name);
}

torch::Tensor Hooks::apply(int64_t layer, HookPoint point, torch::Tensor x) {
  const HookName name{layer, point};
  for (auto [it, end] = writes_.equal_range(name); it != end; ++it) {
    torch::Tensor replaced = it->second(name, x);
    TORCH_CHECK(replaced.sizes() == x.sizes(), "write hook ", name.str(), " returned shape ",
                replaced.sizes(), " for an activation of shape ", x.sizes());
    x = replaced.to(x.dtype());
  }
  for (auto [it, end] = reads_.equal_range(name); it != end; ++it) it->second(name, x);
  return x;
}

bool Hooks::has(int64_t layer, HookPoint point) const {
  const HookName name{layer, point};
  return reads_.count(name) > 0 || writes_.count(name) > 0;
}

bool Hooks::done_after(int64_t layer) const {
  if (!stop_after_last_read_ || reads_.empty()) return false;
  // The last read hook in forward order; hook_resid_pre of layer L+1 is read after block L, so
  // only hooks of layers <= layer (any point) are done.
  const HookName& last = reads_.rbegin()->first;
  if (!writes_.empty() && writes_.rbegin()->first.layer > last.layer) return false;
  return layer >= last.layer;
}

}  // namespace fpokit::lm
