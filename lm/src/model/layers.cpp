#include "fpokit/lm/model/layers.h"

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/model/lora_adapter.h"

namespace fpokit::lm {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                       const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_features}, options));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::nn::functional::linear(x, weight, bias);
  if (lora && lora->enabled) y = y + lora->delta(x, is_training());
  return y;
}

Conv1DImpl::Conv1DImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({in_features, out_features}, options));
  bias = register_parameter("bias", torch::empty({out_features}, options));
}

torch::Tensor Conv1DImpl::forward(const torch::Tensor& x) {
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(1);
  auto y = torch::addmm(bias, x.reshape({-1, x.size(-1)}), weight).view(sizes);
  if (lora && lora->enabled) y = y + lora->delta(x, is_training());
  return y;
}

EmbeddingImpl::EmbeddingImpl(int64_t num_embeddings, int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({num_embeddings, dim}, options));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, bool unit_offset, const torch::TensorOptions& options)
    : eps_(eps), unit_offset_(unit_offset) {
  weight = register_parameter("weight", torch::empty({dim}, options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const auto x32 = x.to(torch::kFloat32);
  const auto normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  if (unit_offset_) return (normed * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight * normed.to(x.scalar_type());
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options)
    : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", torch::empty({dim}, options));
  bias = register_parameter("bias", torch::empty({dim}, options));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {dim_}, weight, bias, eps_);
}

Activation parse_activation(const std::string& name, const std::string& where) {
  if (name == "silu" || name == "swish") return Activation::SiLU;
  if (name == "gelu") return Activation::GeLU;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeLUTanh;
  if (name == "relu") return Activation::ReLU;
  throw ConfigError(where + ": unsupported activation '" + name +
                    "' (supported: silu, swish, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)");
}

torch::Tensor apply_activation(Activation act, const torch::Tensor& x) {
  switch (act) {
    case Activation::SiLU: return torch::silu(x);
    case Activation::GeLU: return torch::gelu(x);
    case Activation::GeLUTanh: return torch::gelu(x, "tanh");
    case Activation::ReLU: return torch::relu(x);
  }
  return x;
}

}  // namespace fpokit::lm
