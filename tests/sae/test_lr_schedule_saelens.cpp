// sae/'s learning-rate schedules equal SAELens's (torch's LinearLR, CosineAnnealingLR and LinearLR
// in a SequentialLR, composed as SAELens's get_lr_scheduler does; the fixture comes from torch
// itself, tests/fixtures/generate_lr_schedules.py) at every step: warm-up from lr/W, cosine
// annealing to lr_end over the steps between warm-up and decay, then a linear decay to 0 from
// where the main schedule ended.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/train/lr_schedule.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("sae learning-rate schedules equal SAELens's torch schedulers over whole runs", "[sae][lr]") {
  std::ifstream in(test::fixture("sae/saelens_lr_schedules.json"));
  REQUIRE(in.good());
  const auto cases = nlohmann::json::parse(in)["saelens_schedulers"];
  REQUIRE(cases.size() == 12);
  int with_cosine_decay = 0;
  for (const auto& c : cases) {
    const auto total = c["total"].get<int64_t>();
    // As SaeTrainer builds it.
    core::LrSchedule s{1.0,
                       core::parse_lr_scheduler(c["scheduler"].get<std::string>()),
                       c["warmup"].get<int64_t>(),
                       c["decay"].get<int64_t>(),
                       c["lr_end"].get<double>(),
                       total};
    if (s.scheduler == core::LrScheduler::Cosine && s.decay_steps > 0) ++with_cosine_decay;
    const auto expected = c["lr"].get<std::vector<double>>();
    for (int64_t step = 0; step < total; ++step) {
      INFO(c["scheduler"].get<std::string>()
           << " warmup " << c["warmup"] << " decay " << c["decay"] << " total " << total << " step " << step);
      CHECK(s.at(step) == Approx(expected[static_cast<size_t>(step)]).margin(1e-12));
    }
  }
  CHECK(with_cosine_decay >= 3);  // the case that used to differ
}
