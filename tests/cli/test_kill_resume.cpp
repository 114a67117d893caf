// Crash consistency (docs/reliability.md, "Save and resume"): real SIGKILLs at the named points of
// the save protocols (FPOKIT_KILL_AT, fpokit/core/fault/kill_point.h), then --resume (or, for the
// single-file outputs, a plain rerun). Whatever instant a run dies at, what follows finishes it with
// the uninterrupted run's results, bitwise, and logs every step exactly once.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fpokit/core/train/checkpoint_folder.h"
#include "cli_checks.h"
#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::log_without_timing;
using test::quoted;
using test::read_bytes;
using test::repo_file;
using test::run_command;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kModel = quoted(repo_file("models/tiny-llama"));
const std::string kPrefs = quoted(repo_file("models/tiny-prefs.jsonl"));
const std::string kCorpus = quoted(repo_file("models/tiny-corpus.jsonl"));

constexpr int kKilled = 128 + 9;  // SIGKILL

// 12 steps, a checkpoint every 4 (at 4 and 8), every step logged.
const std::string kTrain = "train --method simpo --model " + kModel + " --data " + kPrefs +
                           " --learning-rate 1e-4 --max-steps 12 --per-device-train-batch-size 8 --logging-steps 1"
                           " --save-steps 4 --quiet";
// 8192 tokens in steps of 512, a checkpoint every 2048 tokens.
const std::string kSaeTrain = "sae train --model " + kModel + " --data " + kCorpus +
                              " --hook blocks.1.hook_resid_post --width 256 --k 8 --tokens 8192 --batch-tokens 512"
                              " --context-size 32 --buffer-tokens 2048 --learning-rate 1e-3 --checkpoint-every 2048"
                              " --quiet";

std::string killed_at(const std::string& point, const std::string& command) {
  return "FPOKIT_KILL_AT=" + point + " " + fpokit_cmd(command);
}

// After a finished run, the folder holds no checkpoint and nothing temporary.
void check_clean(const fs::path& out) {
  CHECK_FALSE(core::CheckpointFolder(out).exists());
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    const auto name = entry.path().filename().string();
    INFO(entry.path());
    CHECK(name.find(".tmp-") == std::string::npos);
    CHECK(name.find(".old-") == std::string::npos);
    CHECK(name.rfind("checkpoint-", 0) != 0);
  }
}

// Runs `command --resume` until it finishes (a run killed again on the way is continued again).
test::CommandResult resume_to_the_end(const std::string& command) {
  auto r = run_command(fpokit_cmd(command + " --resume"));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  return r;
}

}  // namespace

TEST_CASE("train killed at any point of its save protocol resumes to the uninterrupted run", "[cli][resume][kill]") {
  TempDir tmp;
  const auto whole = tmp / "whole";
  REQUIRE(run_command(fpokit_cmd(kTrain + " --out " + quoted(whole))).exit_code == 0);
  const auto whole_model = read_bytes(whole / "model/model.safetensors");
  const auto whole_log = log_without_timing(whole / "metrics.jsonl");
  REQUIRE(whole_log.size() == 12);

  // The points and the occurrence at which the run dies: before its first checkpoint is
  // committed (no checkpoint at all: --resume starts again from step 0), in the middle of each
  // later step of the protocol, while writing the final model, and while removing the checkpoints.
  for (const std::string point : {"checkpoint-written@1", "file-written@1", "folder-written@2", "checkpoint-renamed@2",
                                  "checkpoint-retiring@1", "folder-written@3", "outputs-written"}) {
    DYNAMIC_SECTION(point) {
      const auto out = tmp / ("killed-" + point);
      const std::string command = kTrain + " --out " + quoted(out);
      const auto r = run_command(killed_at(point, command));
      INFO(r.err);
      REQUIRE(r.exit_code == kKilled);
      // A fresh run is refused once there is something to resume (before that, the folder holds
      // the run's config and log only, and --overwrite-output-dir would be needed).
      resume_to_the_end(command);
      CHECK(read_bytes(out / "model/model.safetensors") == whole_model);
      CHECK(log_without_timing(out / "metrics.jsonl") == whole_log);
      check_clean(out);
      // Resuming the finished run again does nothing and says so.
      const auto again = run_command(fpokit_cmd(command + " --resume"));
      CHECK(again.exit_code == 0);
      CHECK_THAT(again.err, Catch::Contains("finished run"));
      CHECK(read_bytes(out / "model/model.safetensors") == whole_model);
    }
  }
}

TEST_CASE("train killed twice, the second time while resuming, still ends as the uninterrupted run",
          "[cli][resume][kill]") {
  TempDir tmp;
  REQUIRE(run_command(fpokit_cmd(kTrain + " --out " + quoted(tmp / "whole"))).exit_code == 0);
  const std::string command = kTrain + " --out " + quoted(tmp / "twice");
  REQUIRE(run_command(killed_at("checkpoint-renamed@1", command)).exit_code == kKilled);
  // A fresh run over the interrupted one is refused, naming --resume.
  const auto fresh = run_command(fpokit_cmd(command));
  CHECK(fresh.exit_code == 2);
  CHECK_THAT(fresh.err, Catch::Contains("--resume"));
  REQUIRE(run_command(killed_at("checkpoint-retiring@1", command + " --resume")).exit_code == kKilled);
  resume_to_the_end(command);
  CHECK(read_bytes(tmp / "twice/model/model.safetensors") == read_bytes(tmp / "whole/model/model.safetensors"));
  CHECK(log_without_timing(tmp / "twice/metrics.jsonl") == log_without_timing(tmp / "whole/metrics.jsonl"));
  check_clean(tmp / "twice");
}

TEST_CASE("sae train killed at any point of its save protocol resumes to the uninterrupted run",
          "[cli][sae][resume][kill]") {
  TempDir tmp;
  const auto whole = tmp / "whole";
  REQUIRE(run_command(fpokit_cmd(kSaeTrain + " --out " + quoted(whole))).exit_code == 0);
  const std::string weights = "blocks.1.hook_resid_post/sae_weights.safetensors";
  const auto whole_weights = read_bytes(whole / weights);
  REQUIRE_FALSE(whole_weights.empty());
  const auto whole_log = log_without_timing(whole / "training_log.jsonl");

  for (const std::string point :
       {"checkpoint-written@1", "checkpoint-renamed@2", "checkpoint-retiring@2", "outputs-written"}) {
    DYNAMIC_SECTION(point) {
      const auto out = tmp / ("killed-" + point);
      const std::string command = kSaeTrain + " --out " + quoted(out);
      const auto r = run_command(killed_at(point, command));
      INFO(r.err);
      REQUIRE(r.exit_code == kKilled);
      resume_to_the_end(command);
      CHECK(read_bytes(out / weights) == whole_weights);
      CHECK(log_without_timing(out / "training_log.jsonl") == whole_log);
      check_clean(out);
    }
  }
}

TEST_CASE("acts cache and drift killed while writing leave no output, and a rerun writes it", "[cli][resume][kill]") {
  TempDir tmp;
  const std::string cache = "acts cache --model " + kModel + " --data " + kCorpus +
                            " --hook blocks.0.hook_resid_post --tokens 4000 --context-size 32 --model-batch-size 4";
  REQUIRE(run_command(fpokit_cmd(cache + " --out " + quoted(tmp / "whole.h5"))).exit_code == 0);
  for (const std::string point : {"activation-chunk@2", "file-written@1"}) {
    DYNAMIC_SECTION("acts cache " << point) {
      const auto dir = tmp / ("acts-" + point);
      fs::create_directories(dir);
      const std::string command = cache + " --out " + quoted(dir / "acts.h5");
      REQUIRE(run_command(killed_at(point, command)).exit_code == kKilled);
      CHECK_FALSE(fs::exists(dir / "acts.h5"));
      CHECK(test::folder_entries(dir).size() == 1);  // the dead writer's temporary file
      const auto r = run_command(fpokit_cmd(command));
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      CHECK(test::folder_entries(dir) == std::vector<std::string>{"acts.h5"});
      // The same rows (HDF5 stamps object times, so not the same bytes; the content of the cache
      // is checked against the model in tests/sae/test_sae_cli_content.cpp).
      CHECK(fs::file_size(dir / "acts.h5") == fs::file_size(tmp / "whole.h5"));
    }
  }
  SECTION("drift") {
    const auto dir = tmp / "drift";
    fs::create_directories(dir);
    const auto drift = [](const std::string& name) { return quoted(test::fixture("drift/" + name)); };
    const std::string command = "drift --base " + drift("base") + " --aligned " + drift("planted") + " --sae " +
                                drift("sae") + " --data " + drift("corpus.jsonl") +
                                " --tokens 124 --context-size 32 --bootstrap 10 --top 5 --examples 2 --out " +
                                quoted(dir / "report.h5");
    REQUIRE(run_command(killed_at("file-written@1", command)).exit_code == kKilled);
    CHECK_FALSE(fs::exists(dir / "report.h5"));
    const auto r = run_command(fpokit_cmd(command));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(test::folder_entries(dir) == std::vector<std::string>{"report.h5"});
  }
}
