#pragma once
// Shared helpers for the sae tests: fixture paths and tensor comparison.
#include <string>

#include <torch/torch.h>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

namespace fpokit::test {

inline std::filesystem::path sae_fixture(const std::string& relative) { return fixture("sae/" + relative); }

// An owned float tensor from a reference_*.safetensors file.
inline torch::Tensor reference_tensor(const lm::SafetensorsFile& file, const std::string& name) {
  return file.load(name).clone();
}

// max |a − b| (as float64), for messages; a and b must have the same shape.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return 1e30;
  if (a.numel() == 0) return 0.0;
  return (a.detach().to(torch::kFloat64) - b.detach().to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace fpokit::test
