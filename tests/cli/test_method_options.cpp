// An option of another method is an error naming the option, the method and what the method uses
// instead, never silently ignored; a config file dumped from a run (which lists every option with
// its default) still reads back, and a non-default value of another method's option in a file is
// refused like the flag. An unknown command is named, with the list of commands.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

#include "cli/cli_checks.h"
#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::quoted;
using test::repo_file;
using test::run_command;
using test::check_refused;
using test::TempDir;

namespace {

const std::string kFlags = " --model " + quoted(repo_file("models/tiny-llama")) + " --data " +
                           quoted(repo_file("models/tiny-prefs.jsonl")) + " --max-steps 2";

}  // namespace

TEST_CASE("train refuses the options of other methods", "[cli][train][methods]") {
  TempDir tmp;
  const auto out = " --out " + quoted(tmp / "out") + " --dump-config";
  // The check runs before --dump-config: nothing is trained here.
  check_refused(run_command(fpokit_cmd("train --method dpo --simpo-beta 3" + kFlags + out)),
                "--simpo-beta does not apply to --method dpo (it is for simpo)");
  check_refused(run_command(fpokit_cmd("train --method simpo --beta 0.2" + kFlags + out)),
                "--method simpo takes its β from --simpo-beta");
  check_refused(run_command(fpokit_cmd("train --method dpo --sae " + quoted(tmp.path()) + kFlags + out)),
                "--sae does not apply to --method dpo (it is for fpo)");
  check_refused(run_command(fpokit_cmd("train --method orpo --ref-model " + quoted(repo_file("models/tiny-llama")) +
                                       kFlags + out)),
                "--ref-model does not apply to --method orpo");
  check_refused(run_command(fpokit_cmd("train --method tdpo1 --tdpo-alpha 0.3" + kFlags + out)), "(it is for tdpo2)");

  // The method's own options are accepted.
  auto r = run_command(fpokit_cmd("train --method simpo --simpo-beta 2.5" + kFlags + out));
  INFO(r.err);
  CHECK(r.exit_code == 0);

  // A dumped config holds every option at its default: it reads back for another method's run...
  r = run_command(fpokit_cmd("train --method dpo" + kFlags + out));
  REQUIRE(r.exit_code == 0);
  std::ofstream(tmp / "dumped.toml") << r.out;
  r = run_command(fpokit_cmd("train --config " + quoted(tmp / "dumped.toml") + " --method simpo" + out));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  // ...but a changed value of another method's option in a file is refused.
  std::ofstream(tmp / "changed.toml") << "[train]\nsimpo-beta = 3.5\n";
  check_refused(
      run_command(fpokit_cmd("train --config " + quoted(tmp / "changed.toml") + " --method dpo" + kFlags + out)),
      "--simpo-beta does not apply to --method dpo");
}

TEST_CASE("out-of-range numbers in training options are refused before any work, naming the option",
          "[cli][train][errors]") {
  TempDir tmp;
  const auto out = " --out " + quoted(tmp / "out");
  const std::string sae = "sae train --model " + quoted(repo_file("models/tiny-llama")) + " --data " +
                          quoted(repo_file("models/tiny-corpus.jsonl")) +
                          " --hook blocks.1.hook_resid_post --width 64 --k 4 --tokens 1024 --context-size 32";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train" + kFlags + " --learning-rate -1", "--learning-rate must be at least 0, got -1"},
      {"train" + kFlags + " --weight-decay -0.5", "--weight-decay must be at least 0"},
      {"train" + kFlags + " --warmup-steps -3", "--warmup-steps must be at least 0"},
      {"train" + kFlags + " --max-grad-norm -1", "--max-grad-norm must be at least 0 (0: no clipping)"},
      {"train" + kFlags + " --logging-steps 0", "--logging-steps must be at least 1"},
      {"train" + kFlags + " --save-steps -1", "--save-steps must be at least 0"},
      {"train" + kFlags + " --eval-steps -1", "--eval-steps must be at least 0"},
      {"train" + kFlags + " --per-device-eval-batch-size 0", "--per-device-eval-batch-size must be at least 1"},
      {"train" + kFlags + " --stop-after-steps -1", "--stop-after-steps must be at least 0"},
      {"train --model " + quoted(repo_file("models/tiny-llama")) + " --data " +
           quoted(repo_file("models/tiny-prefs.jsonl")) + " --num-train-epochs 0",
       "--num-train-epochs above 0"},
      {"train" + kFlags + " --lora-r 4 --lora-alpha 0", "--lora-alpha must be positive"},
      {"train" + kFlags + " --lora-r 4 --lora-dropout 1.5", "--lora-dropout must be in [0, 1)"},
      {"train" + kFlags + " --lora-alpha 32", "--lora-alpha applies to LoRA runs: give --lora-r R too"},
      {sae + " --learning-rate -1", "--learning-rate must be at least 0"},
      {sae + " --adam-beta1 1.5", "--adam-beta1 must be in [0, 1), got 1.5"},
      {sae + " --warmup-steps -1", "--warmup-steps must be at least 0"},
      {sae + " --lr-decay-steps -1", "--lr-decay-steps must be at least 0"},
      {sae + " --dead-tokens 0", "--dead-tokens must be at least 1"},
      {sae + " --arch relu --l1-coefficient -1", "--l1-coefficient must be at least 0"},
      {sae + " --arch relu --l1-warmup-steps -7", "--l1-warmup-steps must be at least -1 (-1: 5% of the run)"},
      {sae + " --arch jumprelu --l0-coefficient -1", "--l0-coefficient must be at least 0"},
      {sae + " --arch jumprelu --jumprelu-init-threshold -1", "--jumprelu-init-threshold must be positive"},
      {sae + " --auxk-coefficient -1", "--auxk-coefficient must be at least 0"},
      {sae + " --k-aux -1", "--k-aux must be at least 0 (0: d_in/2)"},
      {sae + " --checkpoint-every -1", "--checkpoint-every must be at least 0"},
      {sae + " --max-grad-norm -1", "--max-grad-norm must be at least 0"},
      {sae + " --logging-steps -1", "--logging-steps must be at least 0 (0: only at the end)"},
      {sae + " --stop-after-tokens -1", "--stop-after-tokens must be at least 0"},
      // CLI11's own checks, on one line too.
      {"train" + kFlags + " --seed -1", "--seed"},
      {sae + " --seed -1", "--seed"},
      {sae + " --no-such-option 3", "--no-such-option"},
  };
  for (const auto& [command, message] : cases) {
    INFO(command);
    check_refused(run_command(fpokit_cmd("--quiet " + command + out)), message);
    CHECK_FALSE(std::filesystem::exists(tmp / "out"));
    // --dump-config does not print a configuration that would be refused.
    check_refused(run_command(fpokit_cmd("--quiet " + command + out + " --dump-config")), message);
  }
}

TEST_CASE("an unknown command is named, with the list of commands", "[cli][errors]") {
  for (const std::string line : {"frobnicate", "frobnicate --help", "--quiet frobnicate --model x"}) {
    INFO(line);
    const auto r = run_command(fpokit_cmd(line));
    check_refused(r, "unknown command 'frobnicate'");
    CHECK_THAT(r.err, Catch::Contains("train") && Catch::Contains("drift"));
  }
  // A known command still works, with or without root options before it.
  CHECK(run_command(fpokit_cmd("--quiet train --help")).exit_code == 0);
  CHECK(run_command(fpokit_cmd("--log-level error tokenize --help")).exit_code == 0);
}
