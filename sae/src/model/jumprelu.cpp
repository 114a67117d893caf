#include "fpokit/sae/model/jumprelu.h"

#include <torch/torch.h>

namespace fpokit::sae {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// rect((π − θ)/ε) as the input's dtype.
torch::Tensor rectangle(const torch::Tensor& pre, const torch::Tensor& threshold, double bandwidth) {
  const auto u = (pre - threshold) / bandwidth;
  return ((u > -0.5) & (u < 0.5)).to(pre.scalar_type());
}

// Sums a [..., d_sae] gradient down to θ's [d_sae].
torch::Tensor sum_to_threshold(const torch::Tensor& g, const torch::Tensor& threshold) {
  return g.reshape({-1, threshold.size(-1)}).sum(0).to(threshold.scalar_type());
}

struct JumpReLUFunction : public torch::autograd::Function<JumpReLUFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& pre, const torch::Tensor& threshold,
                               double bandwidth) {
    ctx->save_for_backward({pre, threshold});
    ctx->saved_data["bandwidth"] = bandwidth;
    return pre * (pre > threshold).to(pre.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& pre = saved[0];
    const auto& threshold = saved[1];
    const double eps = ctx->saved_data["bandwidth"].toDouble();
    const auto& g = grads[0];
    const auto grad_pre = (pre > threshold).to(g.scalar_type()) * g;
    const auto grad_threshold =
        sum_to_threshold(-(threshold / eps) * rectangle(pre, threshold, eps) * g, threshold);
    return {grad_pre, grad_threshold, torch::Tensor()};
  }
};

struct StepFunction : public torch::autograd::Function<StepFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& pre, const torch::Tensor& threshold,
                               double bandwidth) {
    ctx->save_for_backward({pre, threshold});
    ctx->saved_data["bandwidth"] = bandwidth;
    return (pre > threshold).to(pre.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& pre = saved[0];
    const auto& threshold = saved[1];
    const double eps = ctx->saved_data["bandwidth"].toDouble();
    const auto& g = grads[0];
    const auto grad_threshold = sum_to_threshold(-(1.0 / eps) * rectangle(pre, threshold, eps) * g, threshold);
    return {torch::zeros_like(pre), grad_threshold, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor jumprelu(const torch::Tensor& pre, const torch::Tensor& threshold, double bandwidth) {
  return JumpReLUFunction::apply(pre, threshold, bandwidth);
}

torch::Tensor heaviside_step(const torch::Tensor& pre, const torch::Tensor& threshold, double bandwidth) {
  return StepFunction::apply(pre, threshold, bandwidth);
}

}  // namespace fpokit::sae
