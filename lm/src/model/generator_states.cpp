#include "fpokit/lm/model/generator_states.h"

#include <mutex>

#include <ATen/Context.h>

namespace fpokit::lm {

GeneratorStates::GeneratorStates(const torch::Device& device) {
  save(at::globalContext().defaultGenerator(torch::kCPU));
  if (!device.is_cpu()) save(at::globalContext().defaultGenerator(device));
}

void GeneratorStates::save(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  saved_.emplace_back(gen, gen.get_state());
}

GeneratorStates GeneratorStates::swap_in() const {
  GeneratorStates now;
  for (const auto& [gen, state] : saved_) {
    auto g = gen;
    std::lock_guard<std::mutex> lock(g.mutex());
    now.saved_.emplace_back(g, g.get_state());
    g.set_state(state);
  }
  return now;
}

void GeneratorStates::restore() const {
  for (const auto& [gen, state] : saved_) {
    auto g = gen;
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state);
  }
}

}  // namespace fpokit::lm
