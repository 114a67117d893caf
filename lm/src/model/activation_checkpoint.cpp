#include "fpokit/lm/model/activation_checkpoint.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/torch.h>

#include "fpokit/lm/model/generator_states.h"

namespace fpokit::lm {

namespace {

struct CheckpointBackward : torch::autograd::Node {
  BlockFn block;
  torch::Tensor input;  // detached: the graph before the block is reached through next_edges
  bool input_requires_grad = false;
  GeneratorStates generators;

  CheckpointBackward(BlockFn b, const torch::Tensor& x)
      : block(std::move(b)), input(x.detach()), input_requires_grad(x.requires_grad()), generators(x.device()) {}

  std::string name() const override { return "fpokit::CheckpointBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    torch::AutoGradMode grad_on(true);
    auto x = input.detach().requires_grad_(input_requires_grad);
    const auto previous = generators.swap_in();
    torch::Tensor y;
    try {
      y = block(x);
    } catch (...) {
      previous.restore();
      throw;
    }
    previous.restore();
    if (y.requires_grad() && grads[0].defined()) torch::autograd::backward({y}, {grads[0]});
    return {input_requires_grad ? x.grad() : torch::Tensor()};
  }

  void release_variables() override {
    input.reset();
    block = nullptr;
  }
};

}  // namespace

torch::Tensor checkpoint_block(BlockFn block, const torch::Tensor& x) {
  auto node = std::shared_ptr<CheckpointBackward>(new CheckpointBackward(block, x), torch::autograd::deleteNode);
  torch::Tensor y;
  {
    torch::NoGradGuard no_grad;
    y = block(x);
  }
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  torch::autograd::set_history(y, node);
  return y;
}

}  // namespace fpokit::lm
