#include "fpokit/fpo/training/fused_adamw.h"

#include <ATen/ops/_fused_adamw.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>
#include <tuple>

namespace fpokit::fpo {

FusedAdamW::FusedAdamW(const std::vector<torch::Tensor>& params, torch::optim::AdamWOptions defaults)
    : torch::optim::AdamW(params, defaults) {
  if (defaults.amsgrad()) throw std::invalid_argument("FusedAdamW: amsgrad is not supported");
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode grad_on(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    // The kernel takes tensors of one device and dtype per call (torch groups them the same way).
    struct Lists {
      std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
      std::vector<float> steps;
    };
    std::map<std::tuple<int, int, int>, Lists> by_device_dtype;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (p.grad().is_sparse()) throw std::invalid_argument("FusedAdamW: sparse gradients are not supported");
      auto it = state_.find(p.unsafeGetTensorImpl());
      if (it == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state_.emplace(p.unsafeGetTensorImpl(), std::move(fresh)).first;
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*it->second);
      // As torch.optim: the step count is incremented before the update reads it.
      state.step(state.step() + 1);
      auto& l = by_device_dtype[{static_cast<int>(p.device().type()), p.device().index(), static_cast<int>(p.scalar_type())}];
      l.params.push_back(p);
      l.grads.push_back(p.grad());
      l.exp_avgs.push_back(state.exp_avg());
      l.exp_avg_sqs.push_back(state.exp_avg_sq());
      l.steps.push_back(static_cast<float>(state.step()));
    }
    for (auto& [key, l] : by_device_dtype) {
      // The kernel reads each parameter's step from a float32 scalar on its device: one copy of
      // all of them, viewed per parameter, rather than one tiny tensor (and transfer) each.
      const auto steps = torch::tensor(l.steps, torch::kFloat32).to(l.params.front().device()).unbind(0);
      at::_fused_adamw_(l.params, l.grads, l.exp_avgs, l.exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(),
                        std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(), o.eps(), /*amsgrad=*/false,
                        /*maximize=*/false);
    }
  }
  return loss;
}

}  // namespace fpokit::fpo
