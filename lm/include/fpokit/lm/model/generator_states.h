#pragma once
// The default random generators' states (CPU, and a device's), saved so that a recomputation in
// the backward (activation checkpointing, the chunked log-prob head) replays the forward's random
// draws (LoRA dropout) exactly.
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace fpokit::lm {

class GeneratorStates {
 public:
  // Saves the CPU generator's state and, for a non-CPU device, that device's.
  explicit GeneratorStates(const torch::Device& device);
  // Sets the saved states and returns the current ones (to restore() afterwards).
  GeneratorStates swap_in() const;
  void restore() const;

 private:
  GeneratorStates() = default;
  void save(at::Generator gen);
  std::vector<std::pair<at::Generator, torch::Tensor>> saved_;
};

}  // namespace fpokit::lm
