// --config files are checked before anything runs: an unknown key, an unknown section, a line that
// is not TOML, a value of the wrong type or a key that cannot come from a file is exit 2 with one
// line naming the file, the line and the key (CLI11 alone would skip them and train with the
// defaults); NaN and infinite numbers are refused on the command line and in files.
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
using test::TempDir;

namespace {

const std::string kTrainFlags = " --method dpo --model " + quoted(repo_file("models/tiny-llama")) + " --data " +
                                quoted(repo_file("models/tiny-prefs.jsonl")) + " --max-steps 2";

// Runs `train --config FILE --dump-config` on `contents`; returns the result.
test::CommandResult dump_with(const TempDir& tmp, const std::string& contents) {
  std::ofstream(tmp / "run.toml") << contents;
  return run_command(fpokit_cmd("train --config " + quoted(tmp / "run.toml") + kTrainFlags + " --out " +
                                quoted(tmp / "out") + " --dump-config"));
}

// Refused with `where` (FILE:LINE:) and `what` on its one line, and nothing dumped.
void check_refused(const test::CommandResult& r, const std::string& where, const std::string& what) {
  CHECK(r.out.empty());
  test::check_refused(r, what);
  CHECK_THAT(r.err, Catch::Contains(where));
}

}  // namespace

TEST_CASE("a config file with a typo, a bad line or a bad value is refused with file, line and key", "[cli][config]") {
  TempDir tmp;
  const std::string file = (tmp / "run.toml").string();
  check_refused(dump_with(tmp, "[train]\nlearning-rate = 1e-4\nmax_stepz = 3\n"),
                file + ":3:", "has no option 'max_stepz' (did you mean 'max-steps'?)");
  check_refused(dump_with(tmp, "# runs\n[trian]\nmax-steps = 3\n"),
                file + ":2:", "no command [trian] (did you mean 'train'?)");
  check_refused(dump_with(tmp, "[train\nmax-steps = 3\n"), file + ":1:", "not a section header");
  check_refused(dump_with(tmp, "[train]\nmax-steps 3\n"), file + ":2:", "not a 'key = value' line");
  check_refused(dump_with(tmp, "[train]\nmax-steps = \"abc\"\n"),
                file + ":2:", "max-steps = \"abc\": expected a whole number");
  check_refused(dump_with(tmp, "[train]\nlearning-rate = fast\n"), file + ":2:", "expected a number");
  check_refused(dump_with(tmp, "[train]\ndtype = bf16\n"), file + ":2:", "quote strings");
  check_refused(dump_with(tmp, "[train]\nmerge = 1\n"), file + ":2:", "expected true or false");
  check_refused(dump_with(tmp, "[train]\nmessage = \"open\n"), file + ":2:", "not closed");
  check_refused(dump_with(tmp, "[train]\nmax-steps = 3\nmax-steps = 4\n"), file + ":3:", "line 2 sets max-steps");
  check_refused(dump_with(tmp, "max-steps = 3\n"), file + ":1:", "put options under their command's section");
  check_refused(dump_with(tmp, "[train]\ndump-config = true\n"), file + ":2:", "cannot be set in a config file");
  // Underscores (TRL's spelling) get the dashed name as the suggestion.
  check_refused(dump_with(tmp, "[train]\nlearning_rate = 1e-4\n"), file + ":2:", "did you mean 'learning-rate'?");

  // A valid file with comments, arrays and every value type goes through (the command line's
  // --max-steps 2 overrides the file's); a comment after a section header or a value is a comment.
  auto r = dump_with(tmp,
                     "# a run\n[train]  # the section\nlearning-rate = 2e-4  # peak\nmax-steps = 5\n"
                     "lora-r = 4\nlora-targets = [\"q_proj\", 'k_proj']\nmerge = false\n");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("learning-rate=2e-4") && Catch::Contains("max-steps=2") &&
                        Catch::Contains("q_proj") && Catch::Contains("k_proj"));
  // A # inside a string would be cut by the reader: refused rather than silently truncated.
  check_refused(dump_with(tmp, "[train]\nreference-cache = \"a#b.h5\"\n"), file + ":2:", "'#' inside a string");
}

TEST_CASE("a dumped config reads back through the check for every training command", "[cli][config]") {
  TempDir tmp;
  for (const std::string command :
       {"train" + kTrainFlags, std::string("sae train --model ") + quoted(repo_file("models/tiny-llama")) + " --data " +
                                   quoted(repo_file("models/tiny-corpus.jsonl")) +
                                   " --hook blocks.1.hook_resid_post --tokens 4096"}) {
    auto r = run_command(fpokit_cmd(command + " --out " + quoted(tmp / "out") + " --dump-config"));
    REQUIRE(r.exit_code == 0);
    std::ofstream(tmp / "dumped.toml") << r.out;
    const auto section = command.substr(0, command.find(" --"));
    r = run_command(fpokit_cmd(section + " --config " + quoted(tmp / "dumped.toml") + " --dump-config"));
    INFO(command << "\n" << r.err);
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("NaN and infinite numbers are usage errors before any work", "[cli][config]") {
  TempDir tmp;
  for (const std::string bad : {"nan", "inf", "-inf"}) {
    auto r =
        run_command(fpokit_cmd("train" + kTrainFlags + " --learning-rate " + bad + " --out " + quoted(tmp / "out")));
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("finite"));
    CHECK_FALSE(std::filesystem::exists(tmp / "out"));
  }
  auto r = dump_with(tmp, "[train]\nbeta = nan\n");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("finite"));
}
