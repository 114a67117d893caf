// fpo's learning-rate schedules equal HF transformers' own scheduler functions (the ones TRL uses)
// at every step of whole runs (tests/fixtures/generate_lr_schedules.py): warm-up from 0, linear and
// cosine decay to 0, constant with warm-up.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/train/lr_schedule.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("fpo learning-rate schedules equal transformers' schedulers over whole runs", "[fpo][lr]") {
  std::ifstream in(test::fixture("fpo/hf_lr_schedules.json"));
  REQUIRE(in.good());
  const auto cases = nlohmann::json::parse(in)["transformers_schedulers"];
  REQUIRE(cases.size() == 12);
  for (const auto& c : cases) {
    const auto total = c["total"].get<int64_t>();
    // As PreferenceTrainer builds it.
    core::LrSchedule s{1.0,
                       core::parse_lr_scheduler(c["scheduler"].get<std::string>()),
                       c["warmup"].get<int64_t>(),
                       0,
                       1e-300,
                       total,
                       /*warmup_from_zero=*/true};
    const auto expected = c["lr"].get<std::vector<double>>();
    for (int64_t step = 0; step < total; ++step) {
      INFO(c["hf_scheduler"].get<std::string>() << " warmup " << c["warmup"] << " total " << total << " step " << step);
      CHECK(s.at(step) == Approx(expected[static_cast<size_t>(step)]).margin(1e-12));
    }
  }
}
