// A finished run is never overwritten by accident: train, sae train, acts cache, sae encode and
// drift refuse an --out that holds earlier outputs unless --overwrite-output-dir is given (an
// interrupted training run is continued with --resume instead), and an --out that cannot be used
// (a file where a folder is wanted, a path under a file) is refused before any work.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "cli/cli_checks.h"
#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::quoted;
using test::read_bytes;
using test::repo_file;
using test::run_command;
using test::check_refused;
using test::TempDir;

namespace {

const std::string kModel = quoted(repo_file("models/tiny-llama"));
const std::string kTrain = "train --method simpo --model " + kModel + " --data " +
                           quoted(repo_file("models/tiny-prefs.jsonl")) +
                           " --max-steps 2 --per-device-train-batch-size 8 --quiet";
const std::string kSaeTrain = "sae train --model " + kModel + " --data " +
                              quoted(repo_file("models/tiny-corpus.jsonl")) +
                              " --hook blocks.1.hook_resid_post --width 64 --k 4 --tokens 1024 --batch-tokens 256"
                              " --context-size 32 --quiet";

}  // namespace

TEST_CASE("train and sae train refuse a finished run's folder unless --overwrite-output-dir", "[cli][output]") {
  TempDir tmp;
  for (const std::string& command : {kTrain, kSaeTrain}) {
    INFO(command);
    const auto out = tmp / (command == kTrain ? "train" : "sae");
    auto r = run_command(fpokit_cmd(command + " --out " + quoted(out)));
    REQUIRE(r.exit_code == 0);
    const auto config = read_bytes(out / "config.toml");
    std::ofstream(out / "note.txt") << "mine";
    r = run_command(fpokit_cmd(command + " --out " + quoted(out)));
    check_refused(r, "already holds the outputs of an earlier run");
    CHECK_THAT(r.err, Catch::Contains("--overwrite-output-dir"));
    CHECK(read_bytes(out / "config.toml") == config);  // untouched
    r = run_command(fpokit_cmd(command + " --out " + quoted(out) + " --overwrite-output-dir"));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(std::filesystem::exists(out / "config.toml"));
  }
}

TEST_CASE("an --out that is a file, or lies under a file, is refused before any work", "[cli][output]") {
  TempDir tmp;
  std::ofstream(tmp / "file.txt") << "x";
  check_refused(run_command(fpokit_cmd(kTrain + " --out " + quoted(tmp / "file.txt"))), "is a file, not a folder");
  check_refused(run_command(fpokit_cmd(kSaeTrain + " --out " + quoted(tmp / "file.txt" / "run"))),
                "is a file, so nothing can be written under it");
  check_refused(run_command(fpokit_cmd("acts cache --model " + kModel + " --data " +
                                       quoted(repo_file("models/tiny-corpus.jsonl")) +
                                       " --hook blocks.1.hook_resid_post --tokens 256 --out " + quoted(tmp.path()))),
                "is a folder: give a file path");
}

TEST_CASE("acts cache refuses to replace an existing file unless --overwrite-output-dir", "[cli][output]") {
  TempDir tmp;
  const std::string acts = "acts cache --model " + kModel + " --data " + quoted(repo_file("models/tiny-corpus.jsonl")) +
                           " --hook blocks.1.hook_resid_post --tokens 256 --context-size 32 --quiet --out " +
                           quoted(tmp / "a.h5");
  REQUIRE(run_command(fpokit_cmd(acts)).exit_code == 0);
  const auto before = read_bytes(tmp / "a.h5");
  check_refused(run_command(fpokit_cmd(acts)), "already exists");
  CHECK(read_bytes(tmp / "a.h5") == before);
  CHECK(run_command(fpokit_cmd(acts + " --overwrite-output-dir")).exit_code == 0);
}

TEST_CASE("train --resume with settings that change the trajectory is refused, listing each", "[cli][output][resume]") {
  TempDir tmp;
  const auto out = " --out " + quoted(tmp / "run");
  const std::string dpo = "--quiet train --method dpo --model " + kModel + " --data " +
                          quoted(repo_file("models/tiny-prefs.jsonl")) +
                          " --max-steps 4 --per-device-train-batch-size 8 --quiet";
  REQUIRE(run_command(fpokit_cmd(dpo + " --stop-after-steps 1" + out)).exit_code == 0);
  auto r = run_command(fpokit_cmd(dpo + " --resume --learning-rate 3e-6 --beta 0.2 --weight-decay 0.1" + out));
  check_refused(r, "other settings");
  CHECK_THAT(r.err, Catch::Contains("learning_rate was 1e-06, now 3e-06") && Catch::Contains("beta was 0.1, now 0.2") &&
                        Catch::Contains("weight_decay was 0.0, now 0.1"));
  // Logging and saving cadence may change.
  r = run_command(fpokit_cmd(dpo + " --resume --logging-steps 1 --save-steps 2" + out));
  INFO(r.err);
  CHECK(r.exit_code == 0);
}
