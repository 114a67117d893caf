#pragma once
// Access to the golden model fixtures made by tests/fixtures/generate_models.py.
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

namespace fpokit::test {

// Names of the directories under tests/fixtures/models that hold a reference.safetensors, sorted.
inline std::vector<std::string> model_fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(fixture("models"))) {
    if (std::filesystem::exists(entry.path() / "reference.safetensors")) names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::filesystem::path model_fixture(const std::string& name) { return fixture("models") / name; }

// Max |a - b| over the positions where mask [B, T] is 1 (a, b: [B, T, ...]).
inline double max_abs_diff_on(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  const auto keep = mask.to(torch::kBool);
  return (a.to(torch::kFloat32).index({keep}) - b.to(torch::kFloat32).index({keep})).abs().max().item<double>();
}

}  // namespace fpokit::test
