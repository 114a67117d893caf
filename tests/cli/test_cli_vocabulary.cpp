// One CLI vocabulary (docs/cli.md): deprecated option names still work and say so once, on the
// command line and in a --config file; --output-dir is --out; the global logging flags; every
// command's --help is grouped; `fpokit help --markdown` covers every command.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::quoted;
using test::read_bytes;
using test::repo_file;
using test::run_command;
using test::TempDir;

namespace {

const std::string kModel = quoted(repo_file("models/tiny-llama"));
const std::string kCorpus = quoted(repo_file("models/tiny-corpus.jsonl"));
const std::string kPrefs = quoted(repo_file("models/tiny-prefs.jsonl"));
const std::string kSaeFlags =
    " --model " + kModel + " --data " + kCorpus + " --hook blocks.1.hook_resid_post --tokens 4096";
const std::string kTrainFlags =
    " --method dpo --model " + kModel + " --data " + kPrefs + " --max-steps 2 --per-device-train-batch-size 8";

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("a deprecated option name still binds and prints one note", "[cli][vocabulary]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("sae train" + kSaeFlags + " --lr 0.002 --log-every 7 --lr-scheduler cosine" +
                                  " --lr-warmup-steps 3 --out " + quoted(tmp / "a") + " --dump-config"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err ==
        "fpokit: note: --lr is deprecated, use --learning-rate\n"
        "fpokit: note: --lr-scheduler is deprecated, use --lr-scheduler-type\n"
        "fpokit: note: --lr-warmup-steps is deprecated, use --warmup-steps\n"
        "fpokit: note: --log-every is deprecated, use --logging-steps\n");
  // The dump (and so <out>/config.toml) writes the current names only.
  CHECK_THAT(r.out, Catch::Contains("\nlearning-rate=0.002\n"));
  CHECK_THAT(r.out, Catch::Contains("\nlogging-steps=7\n"));
  CHECK_THAT(r.out, Catch::Contains("\nlr-scheduler-type=\"cosine\"\n"));
  CHECK_THAT(r.out, Catch::Contains("\nwarmup-steps=3\n"));
  CHECK(count(r.out, "\nlr=") == 0);

  // The new name gives no note; both names at once is a usage error.
  r = run_command(
      fpokit_cmd("sae train" + kSaeFlags + " --learning-rate 0.002 --out " + quoted(tmp / "a") + " --dump-config"));
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  r = run_command(fpokit_cmd("sae train" + kSaeFlags + " --learning-rate 0.002 --lr 0.003 --out " + quoted(tmp / "a") +
                             " --dump-config"));
  CHECK(r.exit_code == 2);

  // `--lr=VALUE` is the same name; forward's --hooks is now --hook.
  r = run_command(fpokit_cmd("sae train" + kSaeFlags + " --lr=0.002 --out " + quoted(tmp / "a") + " --dump-config"));
  CHECK(r.exit_code == 0);
  CHECK(count(r.err, "fpokit: note: --lr is deprecated, use --learning-rate\n") == 1);
}

TEST_CASE("a config file with an old key works and prints the same note", "[cli][vocabulary][config]") {
  TempDir tmp;
  std::ofstream(tmp / "old.toml") << "[sae.train]\nlr = 0.002\nlog-every = 9\n";
  auto r = run_command(fpokit_cmd("sae train --config " + quoted(tmp / "old.toml") + kSaeFlags + " --out " +
                                  quoted(tmp / "a") + " --dump-config"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(count(r.err, "fpokit: note: --lr is deprecated, use --learning-rate\n") == 1);
  CHECK(count(r.err, "fpokit: note: --log-every is deprecated, use --logging-steps\n") == 1);
  CHECK(count(r.err, "\n") == 2);
  CHECK_THAT(r.out, Catch::Contains("\nlearning-rate=0.002\n"));
  CHECK_THAT(r.out, Catch::Contains("\nlogging-steps=9\n"));

  // The command line still overrides the file, old key or not.
  r = run_command(fpokit_cmd("sae train --config " + quoted(tmp / "old.toml") + kSaeFlags +
                             " --learning-rate 0.005 --out " + quoted(tmp / "a") + " --dump-config"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("\nlearning-rate=0.005\n"));

  // Both keys in one file would make one of them silently lose.
  std::ofstream(tmp / "both.toml") << "[sae.train]\nlr = 0.002\nlearning-rate = 0.003\n";
  r = run_command(fpokit_cmd("sae train --config " + quoted(tmp / "both.toml") + kSaeFlags + " --out " +
                             quoted(tmp / "a") + " --dump-config"));
  CHECK(r.exit_code == 2);
  CHECK(count(r.err, "\n") == 1);
  CHECK_THAT(r.err, Catch::Contains("learning-rate") && Catch::Contains("lr"));
}

TEST_CASE("train and sae train take --output-dir for --out", "[cli][vocabulary]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("train" + kTrainFlags + " --quiet --output-dir " + quoted(tmp / "run")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::filesystem::exists(tmp / "run" / "model" / "config.json"));
  CHECK_THAT(read_bytes(tmp / "run" / "config.toml"), Catch::Contains("\nout=\"" + (tmp / "run").string() + "\""));
  CHECK(count(r.err, "note:") == 0);

  r = run_command(fpokit_cmd("sae train" + kSaeFlags + " --output-dir " + quoted(tmp / "sae") + " --dump-config"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("\nout=\"" + (tmp / "sae").string() + "\""));
  // Same option: giving both is one value too many.
  r = run_command(fpokit_cmd("sae train" + kSaeFlags + " --out a --output-dir b --dump-config"));
  CHECK(r.exit_code == 2);
}

TEST_CASE("global --quiet keeps warnings and errors only, before or after the command", "[cli][vocabulary][log]") {
  const std::string eval = "eval-prefs --model " + kModel + " --ref-model " + kModel + " --data " + kPrefs;
  auto r = run_command(fpokit_cmd(eval));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("fpokit: data:"));
  const std::string table = r.out;

  for (const auto& command : {"--quiet " + eval, eval + " --quiet", "--log-level warning " + eval}) {
    r = run_command(fpokit_cmd(command));
    INFO(command << "\n" << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == table);  // results still go to stdout
  }

  // A deprecation note is a warning: --quiet keeps it, --log-level error drops it.
  TempDir tmp;
  const std::string dump = "sae train" + kSaeFlags + " --lr 0.002 --out " + quoted(tmp / "a") + " --dump-config";
  CHECK(run_command(fpokit_cmd("--quiet " + dump)).err == "fpokit: note: --lr is deprecated, use --learning-rate\n");
  CHECK(run_command(fpokit_cmd("--log-level error " + dump)).err.empty());

  // train's own --quiet still hides only the progress line, as before.
  r = run_command(fpokit_cmd("train" + kTrainFlags + " --quiet --out " + quoted(tmp / "run")));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("fpokit: data:"));
  r = run_command(fpokit_cmd("--quiet train" + kTrainFlags + " --out " + quoted(tmp / "run2")));
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
}

TEST_CASE("a bad --log-level is a usage error on one line", "[cli][vocabulary][log]") {
  const auto r = run_command(fpokit_cmd("--log-level bogus tokenize --model " + kModel + " --text hi"));
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(count(r.err, "\n") == 1);
  CHECK_THAT(r.err, Catch::Contains("--log-level") && Catch::Contains("bogus"));
  CHECK(r.out.empty());
  CHECK(run_command(fpokit_cmd("--quiet --verbose tokenize --model " + kModel + " --text hi")).exit_code == 2);
  CHECK(run_command(fpokit_cmd("--log-level debug tokenize --model " + kModel + " --text hi")).exit_code == 0);
}

TEST_CASE("every command's --help puts its options in named groups", "[cli][vocabulary][help]") {
  for (const std::string command : {"generate", "tokenize", "forward", "sae train", "sae eval", "sae encode",
                                    "acts cache", "train", "eval-prefs", "drift", "help"}) {
    const auto r = run_command(fpokit_cmd(command + " --help"));
    INFO(command << "\n" << r.out);
    CHECK(r.exit_code == 0);
    // CLI11 lists ungrouped options under "Options:"; only --help may be there.
    const auto at = r.out.find("Options:\n");
    REQUIRE(at != std::string::npos);
    const auto end = r.out.find("\n\n", at);
    const auto ungrouped = r.out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    CHECK(count(ungrouped, "\n  -") == 1);
    CHECK_THAT(ungrouped, Catch::Contains("--help"));
    CHECK(count(r.out, ":\n") >= 2);  // at least one named group besides Options
  }
}

TEST_CASE("fpokit help --markdown documents every command and option", "[cli][vocabulary][help]") {
  const auto r = run_command(fpokit_cmd("help --markdown"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const std::string heading : {"generate", "tokenize", "forward", "sae", "sae train", "sae eval", "sae encode",
                                    "acts", "acts cache", "train", "eval-prefs", "drift", "help"})
    CHECK_THAT(r.out, Catch::Contains("\n## fpokit " + heading + "\n"));
  CHECK_THAT(r.out, Catch::Contains("| `--learning-rate`, `--lr` | FLOAT |"));
  CHECK_THAT(r.out, Catch::Contains("Adam learning rate (--lr is deprecated) |"));
  CHECK_THAT(r.out, Catch::Contains("| `--out`, `--output-dir` |"));
  CHECK_THAT(r.out, Catch::Contains("| `--log-level` |"));
  CHECK_THAT(r.out, Catch::Contains("**Logging**"));
  // `fpokit help` alone is the root's --help.
  CHECK(run_command(fpokit_cmd("help")).out == run_command(fpokit_cmd("--help")).out);
}
