#pragma once
// AdamW with ATen's fused multi-tensor kernel (at::_fused_adamw_, CPU and CUDA): the update
// torch.optim.AdamW(fused=True) makes, HF Trainer's default optimiser since torch 2.8. LibTorch's
// torch::optim::AdamW updates one parameter at a time with separate element-wise ops (~7x slower
// on CPU for a 26M-parameter model; on a GPU, hundreds of small kernels per step).
//
// The state is torch::optim::AdamW's own (AdamWParamState: step, exp_avg, exp_avg_sq), so
// checkpoints written by torch::save(optimizer) have the same layout. amsgrad is not supported.
#include <torch/optim/adamw.h>

namespace fpokit::fpo {

class FusedAdamW : public torch::optim::AdamW {
 public:
  // Throws std::invalid_argument for amsgrad.
  FusedAdamW(const std::vector<torch::Tensor>& params, torch::optim::AdamWOptions defaults);
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace fpokit::fpo
