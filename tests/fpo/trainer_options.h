#pragma once
// PreferenceTrainerOptions for the small trainer tests: a constant learning rate, whole-batch
// steps and a log line every `logging_steps`.
#include "fpokit/fpo/preference_trainer.h"

namespace fpokit::test {

inline fpo::PreferenceTrainerOptions constant_lr_options(fpo::Method method, double learning_rate, int64_t max_steps,
                                                         int64_t batch_size, int64_t logging_steps = 1) {
  fpo::PreferenceTrainerOptions o;
  o.method = method;
  o.learning_rate = learning_rate;
  o.lr_scheduler_type = sae::LrScheduler::Constant;
  o.max_steps = max_steps;
  o.per_device_train_batch_size = batch_size;
  o.logging_steps = logging_steps;
  return o;
}

}  // namespace fpokit::test
