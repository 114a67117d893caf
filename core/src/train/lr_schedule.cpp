#include "fpokit/core/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "fpokit/core/errors.h"

namespace fpokit::core {

LrScheduler parse_lr_scheduler(std::string_view name) {
  if (name == "constant") return LrScheduler::Constant;
  if (name == "linear") return LrScheduler::Linear;
  if (name == "cosine" || name == "cosineannealing") return LrScheduler::Cosine;
  throw ConfigError("unknown learning-rate scheduler \"" + std::string(name) + "\": use constant, linear or cosine");
}

std::string_view lr_scheduler_name(LrScheduler s) {
  switch (s) {
    case LrScheduler::Constant: return "constant";
    case LrScheduler::Linear: return "linear";
    case LrScheduler::Cosine: return "cosine";
  }
  return "constant";
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps)
    return lr * static_cast<double>(warmup_from_zero ? step : step + 1) / static_cast<double>(warmup_steps);
  const int64_t after = total_steps - warmup_steps;  // steps after warm-up
  const int64_t i = step - warmup_steps;
  double value = lr;
  if (scheduler == LrScheduler::Linear) {
    return lr * std::max(0.0, 1.0 - static_cast<double>(i) / static_cast<double>(std::max<int64_t>(after, 1)));
  }
  const int64_t decay_start = total_steps - decay_steps;
  const bool decaying = decay_steps > 0 && step >= decay_start;
  // The final linear decay to 0 starts from where the main schedule ends: lr for constant, lr_end
  // for cosine, which anneals over the steps between warm-up and decay (SAELens's SequentialLR of
  // LinearLR, CosineAnnealingLR(T_max = total - warm-up - decay), LinearLR).
  const double decay_factor =
      decaying ? std::max(0.0, 1.0 - static_cast<double>(step - decay_start) / static_cast<double>(decay_steps)) : 1.0;
  if (scheduler == LrScheduler::Cosine) {
    const double end = lr_end > 0 ? lr_end : lr / 10;
    if (decaying) return end * decay_factor;
    const int64_t span = std::max<int64_t>(after - std::max<int64_t>(decay_steps, 0), 1);
    const double t = std::min(1.0, static_cast<double>(i) / static_cast<double>(span));
    value = end + 0.5 * (lr - end) * (1.0 + std::cos(std::numbers::pi * t));
  }
  return value * decay_factor;
}

}  // namespace fpokit::core
