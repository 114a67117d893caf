// A full disk while writing any output: exit 2 with one line that names the file and says "No
// space left on device", no crash (HDF5 used to SIGSEGV at exit after a failed write), no
// temporary left behind, and an earlier checkpoint kept. The disk is a small tmpfs mounted in a
// private mount namespace (`unshare -rm`: no root needed where user namespaces are on, nothing
// mounted outside the test's own process).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "cli/cli_checks.h"
#include "test_support.h"

using namespace fpokit;
using test::check_refused;
using test::fpokit_cmd;
using test::quoted;
using test::repo_file;
using test::run_command;
using test::TempDir;

namespace {

const std::string kModel = quoted(repo_file("models/tiny-llama"));
const std::string kCorpus = quoted(repo_file("models/tiny-corpus.jsonl"));
const std::string kPrefs = quoted(repo_file("models/tiny-prefs.jsonl"));

struct FullDiskRun {
  test::CommandResult result;
  std::vector<std::string> left;  // what the disk holds afterwards (ls -A, recursive)
};

// 'text' for sh, with the quotes inside it escaped.
std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `fpokit --quiet ARGS` with `disk` mounted as a tmpfs of `kib` KiB; ARGS names paths on it.
FullDiskRun run_on_small_disk(const std::filesystem::path& disk, int kib, const std::string& args) {
  std::filesystem::create_directories(disk);
  const std::string script = "mount -t tmpfs -o size=" + std::to_string(kib) + "k tmpfs " + quoted(disk) +
                             " || exit 99; " + fpokit_cmd("--quiet " + args) + "; rc=$?; echo @@left >&2; cd " +
                             quoted(disk) + " && find . -mindepth 1 | sort >&2; exit $rc";
  auto r = run_command("unshare -rm sh -c " + shell_quoted(script));
  REQUIRE(r.exit_code != 99);  // the tmpfs could not be mounted
  FullDiskRun out;
  const auto marker = r.err.find("@@left\n");
  REQUIRE(marker != std::string::npos);
  std::istringstream listing(r.err.substr(marker + 7));
  for (std::string line; std::getline(listing, line);) out.left.push_back(line);
  r.err.resize(marker);
  out.result = r;
  return out;
}

bool holds_temporary(const std::vector<std::string>& entries) {
  return std::any_of(entries.begin(), entries.end(),
                     [](const std::string& e) { return e.find(".tmp-") != std::string::npos; });
}

}  // namespace

TEST_CASE("a full disk while writing an activation cache, features or an SAE is one line, and leaves nothing",
          "[cli][disk-full]") {
  TempDir tmp;
  const auto disk = tmp / "disk";
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"acts cache", "acts cache --model " + kModel + " --data " + kCorpus +
                         " --hook blocks.1.hook_resid_post --tokens 4000 --context-size 32 --out " +
                         quoted(disk / "acts.h5")},
      {"sae train", "sae train --model " + kModel + " --data " + kCorpus +
                        " --hook blocks.1.hook_resid_post --width 2048 --k 4 --tokens 1024 --batch-tokens 256"
                        " --context-size 32 --quiet --out " +
                        quoted(disk / "run")},
  };
  for (const auto& [name, args] : commands) {
    INFO(name);
    const auto run = run_on_small_disk(disk, 64, args);
    check_refused(run.result, "No space left on device");
    CHECK_FALSE(holds_temporary(run.left));
    CHECK(std::find(run.left.begin(), run.left.end(), "./acts.h5") == run.left.end());
  }
}

TEST_CASE("a full disk while writing a trained model keeps the last checkpoint and leaves no temporary",
          "[cli][disk-full]") {
  TempDir tmp;
  const auto disk = tmp / "disk";
  // One checkpoint (policy + AdamW state, about 5 MB) fits; the next one, written before the
  // first is retired, does not.
  const auto run = run_on_small_disk(disk, 8192,
                                     "train --method dpo --model " + kModel + " --data " + kPrefs +
                                         " --max-steps 6 --save-steps 2 --per-device-train-batch-size 8 --quiet"
                                         " --out " +
                                         quoted(disk / "run"));
  check_refused(run.result, "No space left on device");
  CHECK_FALSE(holds_temporary(run.left));
  CHECK(std::find(run.left.begin(), run.left.end(), "./run/checkpoint-2/trainer_state.json") != run.left.end());
}

TEST_CASE("a full disk while writing features or the drift report is one line, and leaves nothing",
          "[cli][disk-full]") {
  TempDir tmp;
  const auto disk = tmp / "disk";
  const auto drift = [](const std::string& name) { return quoted(test::fixture("drift/" + name)); };
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"sae encode", "sae encode --sae " + drift("sae") + " --model " + drift("base") + " --data " +
                         drift("corpus.jsonl") + " --tokens 120 --context-size 32 --dense --out " +
                         quoted(disk / "features.safetensors")},
      {"drift", "drift --base " + drift("base") + " --aligned " + drift("planted") + " --sae " + drift("sae") +
                    " --data " + drift("corpus.jsonl") +
                    " --tokens 124 --context-size 32 --bootstrap 10 --top 5 --examples 2 --out " +
                    quoted(disk / "report.h5")},
  };
  for (const auto& [name, args] : commands) {
    INFO(name);
    const auto run = run_on_small_disk(disk, 8, args);
    check_refused(run.result, "No space left on device");
    CHECK(run.left.empty());
  }
}
