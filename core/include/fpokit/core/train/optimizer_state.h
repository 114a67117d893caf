#pragma once
// A check of an optimizer state read back from a checkpoint (torch::load): LibTorch restores the
// state tensors by parameter position without comparing shapes, so a damaged or foreign
// optimizer.pt would otherwise fail later inside a step, or silently broadcast.
#include <torch/optim/optimizer.h>

namespace fpokit::core {

// For Adam, AdamW and RMSprop states: every state tensor (exp_avg, exp_avg_sq, square_avg,
// max_exp_avg_sq when AMSGrad) has its parameter's shape and is finite. Throws std::runtime_error
// naming the parameter's position, the tensor and both shapes (callers wrap it with the file name:
// LoadedCheckpoint::read_part).
void check_optimizer_state(torch::optim::Optimizer& optimizer);

}  // namespace fpokit::core
