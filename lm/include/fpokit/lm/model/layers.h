#pragma once
// Building blocks shared by the architectures, as LibTorch modules whose parameter names are the
// HF ones ("weight", "bias"). Parameters are created uninitialised (torch::empty): every value
// comes from the checkpoint, and a 9B model must not pay for a random init it throws away.
#include <cstdint>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace fpokit::lm {

// y = x W^T + b, W: [out, in] (torch.nn.Linear's layout).
struct LoraAdapter;  // lora_adapter.h

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias, const torch::TensorOptions& options);
  // x Wᵀ + b, plus the LoRA update when an adapter is attached and enabled (lora.h). The adapter's
  // tensors are not registered parameters, so checkpoint names stay exactly HF's.
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  torch::Tensor bias;  // undefined without bias
  std::shared_ptr<LoraAdapter> lora;
};
TORCH_MODULE(Linear);

// y = x W + b, W: [in, out] (GPT-2's Conv1D layout, kept as stored in the checkpoint).
class Conv1DImpl : public torch::nn::Module {
 public:
  Conv1DImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options);
  // x W + b, plus the LoRA update when an adapter is attached and enabled (PEFT's fan_in_fan_out).
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  torch::Tensor bias;
  std::shared_ptr<LoraAdapter> lora;
};
TORCH_MODULE(Conv1D);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// RMSNorm computed in float32. Llama style: w * norm(x).to(dtype). Gemma style (unit_offset):
// (norm(x) * (1 + w)).to(dtype) with the multiply in float32, as HF does for each.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, bool unit_offset, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
  bool unit_offset_;
};
TORCH_MODULE(RMSNorm);

class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  torch::Tensor bias;

 private:
  int64_t dim_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

enum class Activation { SiLU, GeLU, GeLUTanh, ReLU };
// Accepts HF's hidden_act / activation_function names: silu|swish, gelu, gelu_new|
// gelu_pytorch_tanh|gelu_fast (tanh approximation), relu. Throws ConfigError otherwise.
Activation parse_activation(const std::string& name, const std::string& where);
torch::Tensor apply_activation(Activation act, const torch::Tensor& x);

}  // namespace fpokit::lm
