#pragma once
// Hooks on the residual stream of a forward pass.
//  - Read hooks see an activation ([batch, seq, hidden], model dtype) and may keep it. With
//    stop_after_last_read(), the forward returns right after the last layer that has a read hook
//    (harvesting activations for an SAE needs no logits).
//  - Write hooks replace an activation (splicing an SAE reconstruction in); write hooks run before
//    read hooks at the same point, so a read hook sees what flows on.
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "fpokit/lm/model/hook_name.h"

namespace fpokit::lm {

struct ModelConfig;

class Hooks {
 public:
  using ReadFn = std::function<void(const HookName&, const torch::Tensor&)>;
  using WriteFn = std::function<torch::Tensor(const HookName&, const torch::Tensor&)>;

  // Keeps the activation at `name`; captured() returns it after the forward.
  Hooks& capture(const HookName& name);
  Hooks& on_read(const HookName& name, ReadFn fn);
  Hooks& on_write(const HookName& name, WriteFn fn);
  Hooks& stop_after_last_read(bool stop = true);

  const std::map<HookName, torch::Tensor>& captured() const { return captured_; }
  void clear_captured() { captured_.clear(); }

  // Throws InputError naming the hook when a layer is outside [0, num_layers) or the point does
  // not exist for this architecture (hook_resid_mid on a parallel-residual model).
  void validate(const ModelConfig& config, bool has_resid_mid) const;

  // --- used by model implementations ---
  bool empty() const { return reads_.empty() && writes_.empty(); }
  // True when a read or write hook is registered at (layer, point).
  bool has(int64_t layer, HookPoint point) const;
  // Applies the write hooks then the read hooks registered at (layer, point); returns x or its
  // replacement.
  torch::Tensor apply(int64_t layer, HookPoint point, torch::Tensor x);
  // True when the forward may stop after block `layer` (all read hooks have fired).
  bool done_after(int64_t layer) const;

 private:
  std::multimap<HookName, ReadFn> reads_;
  std::multimap<HookName, WriteFn> writes_;
  std::map<HookName, torch::Tensor> captured_;
  bool stop_after_last_read_ = false;
};

}  // namespace fpokit::lm
