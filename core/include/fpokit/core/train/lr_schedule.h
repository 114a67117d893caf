#pragma once
// Learning-rate schedules as SAELens defines them (sae/), or as HF transformers does (fpo/, with
// warmup_from_zero and lr_end ≈ 0): linear warm-up over the first warmup_steps (SAELens from
// lr/warmup_steps, HF from 0), then
//   constant: lr, then a linear decay from lr to 0 over the final decay_steps;
//   cosine:   cosine annealing from lr to lr_end over the steps between warm-up and the final
//             decay_steps, then a linear decay from lr_end to 0 over them;
// (SAELens's get_lr_scheduler: LinearLR, CosineAnnealingLR(T_max = total − warm-up − decay),
// LinearLR in a SequentialLR; lr_decay_steps). The "linear" scheduler is HF's: linear from lr to 0
// over all post-warm-up steps. Checked against torch's schedulers composed as SAELens does
// (tests/fixtures/sae/saelens_lr_schedules.json) and transformers' (fpo/hf_lr_schedules.json).
#include <cstdint>
#include <string>
#include <string_view>

namespace fpokit::core {

enum class LrScheduler { Constant, Linear, Cosine };
LrScheduler parse_lr_scheduler(std::string_view name);  // ConfigError for an unknown name
std::string_view lr_scheduler_name(LrScheduler s);

struct LrSchedule {
  double lr = 3e-4;
  LrScheduler scheduler = LrScheduler::Constant;
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;  // final linear decay to 0 (Constant/Cosine)
  double lr_end = 0;        // cosine floor; <= 0 means lr / 10 (SAELens)
  int64_t total_steps = 1;
  // Warm-up from 0 as HF transformers' get_*_schedule_with_warmup (and so TRL): step s of the
  // warm-up has lr·s/W, the first step lr 0. Otherwise SAELens's LinearLR start: lr·(s+1)/W.
  bool warmup_from_zero = false;

  // The learning rate of step `step` (0-based).
  double at(int64_t step) const;
};

}  // namespace fpokit::core
