// FusedAdamW (at::_fused_adamw_) takes the steps LibTorch's per-parameter AdamW takes, keeps the
// same state layout (a checkpoint of one continues in the other), and is what the trainer uses.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <sstream>

#include "fpokit/fpo/training/fused_adamw.h"

using namespace fpokit;

namespace {

std::vector<torch::Tensor> make_params() {
  torch::manual_seed(4);
  return {torch::randn({7, 5}).requires_grad_(), torch::randn({5}).requires_grad_(),
          torch::randn({3, 2, 4}).requires_grad_()};
}

// Deterministic pseudo-gradients for step `s`.
void set_grads(std::vector<torch::Tensor>& params, int s) {
  for (size_t i = 0; i < params.size(); ++i) {
    auto g = torch::sin(torch::arange(params[i].numel(), torch::kFloat32) * (0.37 + 0.11 * static_cast<double>(i)) +
                        static_cast<double>(s))
                 .reshape(params[i].sizes());
    params[i].mutable_grad() = g * (1.0 + static_cast<double>(s));
  }
}

}  // namespace

TEST_CASE("FusedAdamW takes LibTorch AdamW's steps and shares its state layout", "[fpo][optim]") {
  const auto options = torch::optim::AdamWOptions(3e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1);
  auto a = make_params();
  auto b = make_params();
  torch::optim::AdamW reference(a, options);
  fpo::FusedAdamW fused(b, options);
  for (int s = 0; s < 6; ++s) {
    set_grads(a, s);
    set_grads(b, s);
    reference.step();
    fused.step();
  }
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("parameter " << i);
    CHECK((a[i] - b[i]).abs().max().item<double>() < 1e-6);
    CHECK((a[i] - make_params()[i]).abs().max().item<double>() > 0.05);  // it really moved
  }
  // The fused optimizer's state loads into LibTorch's AdamW and the two continue together.
  std::stringstream buffer;
  torch::save(fused, buffer);
  auto c = make_params();
  {
    torch::NoGradGuard g;
    for (size_t i = 0; i < c.size(); ++i) c[i].copy_(b[i]);
  }
  torch::optim::AdamW continued(c, options);
  torch::load(continued, buffer);
  set_grads(b, 6);
  set_grads(c, 6);
  fused.step();
  continued.step();
  for (size_t i = 0; i < b.size(); ++i) CHECK((b[i] - c[i]).abs().max().item<double>() < 1e-6);
  CHECK_THROWS_AS(fpo::FusedAdamW(make_params(), torch::optim::AdamWOptions(1e-3).amsgrad(true)), std::invalid_argument);
}
