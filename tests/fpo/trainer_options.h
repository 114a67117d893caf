#pragma once
// Shared set-up of the trainer tests (tests/fpo, tests/cuda).
//
// PreferenceTrainerOptions for the small trainer tests: a constant learning rate, whole-batch
// steps and a log line every `logging_steps`.
#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::test {

inline fpo::PreferenceTrainerOptions constant_lr_options(fpo::Method method, double learning_rate, int64_t max_steps,
                                                         int64_t batch_size, int64_t logging_steps = 1) {
  fpo::PreferenceTrainerOptions o;
  o.method = method;
  o.learning_rate = learning_rate;
  o.lr_scheduler_type = core::LrScheduler::Constant;
  o.max_steps = max_steps;
  o.per_device_train_batch_size = batch_size;
  o.logging_steps = logging_steps;
  return o;
}

// A random TopK SAE (64 -> 128, k 16) on blocks.1.hook_resid_post of the llama-gqa fixture, in
// eval mode on `device`: FPO's probe in the trainer tests.
inline sae::SparseAutoencoder random_fixture_sae(const torch::Device& device = torch::kCPU) {
  sae::SaeConfig c;
  c.architecture = sae::Architecture::TopK;
  c.d_in = 64;
  c.d_sae = 128;
  c.k = 16;
  c.hook_name = "blocks.1.hook_resid_post";
  sae::SparseAutoencoder s(c);
  sae::initialize_weights(*s, sae::default_init_options(c.architecture, 3));
  s->to(device);
  s->eval();
  return s;
}

}  // namespace fpokit::test
