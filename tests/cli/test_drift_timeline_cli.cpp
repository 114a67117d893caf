// `fpokit train --drift-every` (analysis/drift/drift_timeline_recorder.h): the same training bitwise
// as without it, a timeline at step 0, every N steps and the last, `fpokit drift` on the run
// including it, and a run killed between snapshots resuming to the uninterrupted run's timeline.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "cli_checks.h"
#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::log_without_timing;
using test::quoted;
using test::read_bytes;
using test::run_command;
using test::TempDir;
namespace fs = std::filesystem;
namespace h5 = core::hdf5;

namespace {

std::string drift_file(const std::string& name) { return quoted(test::fixture("drift/" + name)); }

// DPO on the drift fixtures' base model (24 pairs, 4 per step): 6 steps, a checkpoint at 2 and 4.
const std::string kTrain = "train --method dpo --model " + drift_file("base") + " --data " + drift_file("prefs.jsonl") +
                           " --learning-rate 1e-2 --max-steps 6 --per-device-train-batch-size 4 --logging-steps 1"
                           " --save-steps 2 --quiet";
// A snapshot every 3 steps on the text corpus, as the drift tests' small run (40 rows of 32 tokens).
const std::string kTimeline = " --drift-every 3 --drift-sae " + drift_file("sae") + " --drift-data " +
                              drift_file("corpus.jsonl") + " --drift-context-size 32 --drift-tokens 1240";

constexpr int kKilled = 128 + 9;  // SIGKILL

// The snapshots' steps: at the root of a timeline file, or under `group` of a drift report.
std::vector<int64_t> timeline_steps(const fs::path& file, const std::string& group = "") {
  auto f = h5::open_file(file);
  return h5::read_int64_array(f.get(), group.empty() ? "step" : group + "/step");
}

std::vector<double> timeline_column(const fs::path& file, const std::string& column) {
  auto f = h5::open_file(file);
  return h5::read_double_array(f.get(), "features/" + column);
}

}  // namespace

TEST_CASE("train --drift-every trains bitwise as without it and records a timeline that drift includes",
          "[cli][drift]") {
  TempDir tmp;
  const auto plain = tmp / "plain", with = tmp / "with";
  auto r = run_command(fpokit_cmd(kTrain + " --out " + quoted(plain)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd(kTrain + kTimeline + " --out " + quoted(with)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_bytes(with / "model/model.safetensors") == read_bytes(plain / "model/model.safetensors"));
  CHECK(log_without_timing(with / "metrics.jsonl") == log_without_timing(plain / "metrics.jsonl"));
  CHECK(timeline_steps(with / "drift_timeline.h5") == std::vector<int64_t>{0, 3, 6});
  // Step 0 is the starting model: no feature moved; training moved some by the end.
  const auto delta = timeline_column(with / "drift_timeline.h5", "delta_mean");
  const size_t d_sae = delta.size() / 3;
  double moved_at_end = 0;
  for (size_t f = 0; f < d_sae; ++f) {
    CHECK(delta[f] == 0.0);
    moved_at_end = std::max(moved_at_end, std::abs(delta[2 * d_sae + f]));
  }
  CHECK(moved_at_end > 0);
  CHECK_FALSE(fs::exists(plain / "drift_timeline.h5"));

  const auto report = tmp / "report.h5";
  r = run_command(fpokit_cmd("--quiet drift --base " + drift_file("base") + " --aligned " + quoted(with) + " --sae " +
                             drift_file("sae") + " --data " + drift_file("corpus.jsonl") +
                             " --context-size 32 --tokens 1240 --bootstrap 0 --out " + quoted(report)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(timeline_steps(report, "timeline") == std::vector<int64_t>{0, 3, 6});
}

TEST_CASE("train --drift-every killed between snapshots resumes to the uninterrupted run's timeline",
          "[cli][drift][resume][kill]") {
  TempDir tmp;
  const auto whole = tmp / "whole";
  REQUIRE(run_command(fpokit_cmd(kTrain + kTimeline + " --out " + quoted(whole))).exit_code == 0);
  const auto whole_delta = timeline_column(whole / "drift_timeline.h5", "delta_mean");
  const auto whole_model = read_bytes(whole / "model/model.safetensors");
  // drift-snapshot-written@2: the snapshot of step 3 is written, the checkpoint is at step 2 (the
  // resumed run drops the snapshot and takes it again). checkpoint-renamed@2: the checkpoint of step
  // 4 is in place after the snapshot of step 3 (kept as it is).
  for (const std::string point : {"drift-snapshot-written@2", "checkpoint-renamed@2"}) {
    DYNAMIC_SECTION(point) {
      const auto out = tmp / ("killed-" + point);
      const std::string command = kTrain + kTimeline + " --out " + quoted(out);
      const auto killed = run_command("FPOKIT_KILL_AT=" + point + " " + fpokit_cmd(command));
      INFO(killed.err);
      REQUIRE(killed.exit_code == kKilled);
      if (point == "checkpoint-renamed@2") {
        // fpokit drift on the interrupted run: its newest checkpoint (step 4) and the timeline up to it.
        const auto report = tmp / "interrupted.h5";
        const auto d =
            run_command(fpokit_cmd("--quiet drift --base " + drift_file("base") + " --aligned " + quoted(out) +
                                   " --sae " + drift_file("sae") + " --data " + drift_file("corpus.jsonl") +
                                   " --context-size 32 --tokens 1240 --bootstrap 0 --out " + quoted(report)));
        INFO(d.err);
        REQUIRE(d.exit_code == 0);
        CHECK(timeline_steps(report, "timeline") == std::vector<int64_t>{0, 3});
      }
      const auto resumed = run_command(fpokit_cmd(command + " --resume"));
      INFO(resumed.err);
      REQUIRE(resumed.exit_code == 0);
      CHECK(timeline_steps(out / "drift_timeline.h5") == std::vector<int64_t>{0, 3, 6});
      CHECK(timeline_column(out / "drift_timeline.h5", "delta_mean") == whole_delta);
      CHECK(read_bytes(out / "model/model.safetensors") == whole_model);
    }
  }
  SECTION("resuming with another interval is refused") {
    const auto out = tmp / "other";
    const std::string command = kTrain + kTimeline + " --out " + quoted(out);
    REQUIRE(run_command("FPOKIT_KILL_AT=checkpoint-renamed@2 " + fpokit_cmd(command)).exit_code == kKilled);
    std::string other = command;
    other.replace(other.find("--drift-every 3"), 15, "--drift-every 2");
    test::check_refused(run_command(fpokit_cmd("--quiet " + other.substr(0) + " --resume")), "other settings");
  }
}

TEST_CASE("train: drift timeline options without --drift-every, or without an SAE, are refused", "[cli][drift]") {
  TempDir tmp;
  test::check_refused(run_command(fpokit_cmd("--quiet " + kTrain + " --drift-data " + drift_file("corpus.jsonl") +
                                             " --out " + quoted(tmp / "a"))),
                      "--drift-data applies to the drift timeline: give --drift-every N");
  test::check_refused(run_command(fpokit_cmd("--quiet " + kTrain + " --drift-every 2 --drift-data " +
                                             drift_file("corpus.jsonl") + " --out " + quoted(tmp / "b"))),
                      "give --drift-sae");
  CHECK_FALSE(fs::exists(tmp / "a"));
  CHECK_FALSE(fs::exists(tmp / "b"));
}
