#include "fpokit/core/train/optimizer_state.h"

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>

namespace fpokit::core {

namespace {

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

void check_tensor(const torch::Tensor& state, const char* name, const torch::Tensor& param, size_t index) {
  if (!state.defined()) return;
  if (state.sizes() != param.sizes())
    throw std::runtime_error("the state " + std::string(name) + " of parameter " + std::to_string(index) +
                             " has shape " + shape_text(state) + " but the parameter has " + shape_text(param));
  if (!torch::isfinite(state).all().item<bool>())
    throw std::runtime_error("the state " + std::string(name) + " of parameter " + std::to_string(index) +
                             " holds NaN or infinite values");
}

}  // namespace

void check_optimizer_state(torch::optim::Optimizer& optimizer) {
  size_t index = 0;
  for (auto& group : optimizer.param_groups()) {
    for (auto& param : group.params()) {
      const auto found = optimizer.state().find(param.unsafeGetTensorImpl());
      if (found != optimizer.state().end()) {
        auto* state = found->second.get();
        if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(state)) {
          check_tensor(adamw->exp_avg(), "exp_avg", param, index);
          check_tensor(adamw->exp_avg_sq(), "exp_avg_sq", param, index);
          check_tensor(adamw->max_exp_avg_sq(), "max_exp_avg_sq", param, index);
        } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(state)) {
          check_tensor(adam->exp_avg(), "exp_avg", param, index);
          check_tensor(adam->exp_avg_sq(), "exp_avg_sq", param, index);
          check_tensor(adam->max_exp_avg_sq(), "max_exp_avg_sq", param, index);
        } else if (auto* rmsprop = dynamic_cast<torch::optim::RMSpropParamState*>(state)) {
          check_tensor(rmsprop->square_avg(), "square_avg", param, index);
          check_tensor(rmsprop->momentum_buffer(), "momentum_buffer", param, index);
          check_tensor(rmsprop->grad_avg(), "grad_avg", param, index);
        }
      }
      ++index;
    }
  }
}

}  // namespace fpokit::core
