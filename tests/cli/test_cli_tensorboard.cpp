// --report-to tensorboard on `fpokit train` and `fpokit sae train`: the event files in <out>/runs/
// hold every logged line's numbers at its step, under the log's own names.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/train/metrics_log.h"
#include "cli_checks.h"
#include "tensorboard_events.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::test;
namespace fs = std::filesystem;

namespace {

const std::string kModel = quoted(repo_file("models/tiny-llama"));

// Every line of the log with a step is one event with its scalars, in order.
void check_events_match_log(const fs::path& out, const std::string& log_name) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(out / "runs")) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  const auto events = read_tensorboard_events(files.front());
  std::vector<nlohmann::json> lines;
  std::ifstream in(out / log_name);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("step")) lines.push_back(j);
  }
  REQUIRE(!lines.empty());
  REQUIRE(events.size() == lines.size() + 1);
  CHECK(events[0].file_version == "brain.Event:2");
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i].dump());
    CHECK(events[i + 1].step == lines[i]["step"].get<int64_t>());
    CHECK(events[i + 1].scalars == core::MetricsLog::scalars_of(lines[i]));
    CHECK(events[i + 1].scalars.size() >= 3);
  }
}

}  // namespace

TEST_CASE("cli: --report-to tensorboard writes the training log as TensorBoard scalars", "[cli][tensorboard]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("sae train --model " + kModel + " --data " +
                                  quoted(repo_file("models/tiny-corpus.jsonl")) +
                                  " --hook blocks.1.hook_resid_post --width 64 --k 4 --tokens 4096 --batch-tokens 512 "
                                  "--logging-steps 2 --report-to tensorboard --quiet --out " +
                                  quoted(tmp / "sae")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  check_events_match_log(tmp / "sae", "training_log.jsonl");

  r = run_command(fpokit_cmd("train --method dpo --model " + kModel + " --data " +
                             quoted(repo_file("models/tiny-prefs.jsonl")) +
                             " --max-steps 3 --per-device-train-batch-size 4 --logging-steps 1 --report-to tensorboard "
                             "--quiet --out " +
                             quoted(tmp / "dpo")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  check_events_match_log(tmp / "dpo", "metrics.jsonl");

  // Only what fpokit can write offline: another service is refused, not ignored.
  check_refused(run_command(fpokit_cmd("train --method dpo --model " + kModel + " --data " +
                                       quoted(repo_file("models/tiny-prefs.jsonl")) +
                                       " --max-steps 1 --report-to wandb --out " + quoted(tmp / "w"))),
                "--report-to");
  CHECK_FALSE(fs::exists(tmp / "w"));
}
