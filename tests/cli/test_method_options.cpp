// An option of another method is an error naming the option, the method and what the method uses
// instead, never silently ignored; a config file dumped from a run (which lists every option with
// its default) still reads back, and a non-default value of another method's option in a file is
// refused like the flag. An unknown command is named, with the list of commands.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

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
