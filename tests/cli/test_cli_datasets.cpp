// Datasets as they are published, on the command line (docs/datasets.md): a dataset repository
// in the hub cache read by --split, Parquet and gzip files, renamed fields. Each must give exactly
// what the same pairs give as a plain JSON-lines file; bad selections are one line, exit 2.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_checks.h"
#include "test_support.h"

using namespace fpokit::test;
namespace fs = std::filesystem;

namespace {

const std::string kModel = quoted(repo_file("models/tiny-llama"));

std::string eval_prefs(const std::string& data_args) {
  return fpokit_cmd("--quiet eval-prefs --model " + kModel + " --ref-model " + kModel + " --chat-template chatml " +
                    data_args);
}

}  // namespace

TEST_CASE("cli: a cached dataset's split, Parquet, gzip and renamed fields read like JSON lines", "[cli][data]") {
  TempDir tmp;
  const auto jsonl = fixture("datasets/preference.jsonl");
  const auto reference = run_command(eval_prefs("--data " + quoted(jsonl)));
  INFO(reference.err);
  REQUIRE(reference.exit_code == 0);
  REQUIRE_FALSE(reference.out.empty());

  // gzip JSON lines and a JSON array: the same table.
  CHECK(run_command(eval_prefs("--data " + quoted(fixture("datasets/preference.jsonl.gz")))).out == reference.out);
  CHECK(run_command(eval_prefs("--data " + quoted(fixture("datasets/preference.json")))).out == reference.out);

  // A dataset repository in the hub cache, push_to_hub's layout: --split picks the shards.
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  const auto repo = tmp / "hub/datasets--org--prefs";
  const auto snapshot = repo / "snapshots" / commit;
  fs::create_directories(repo / "refs");
  fs::create_directories(snapshot / "data");
  write_bytes(repo / "refs/main", commit);
  fs::copy_file(jsonl, snapshot / "data/test_prefs-00000-of-00001.jsonl");
  fs::copy_file(fixture("datasets/preference.parquet"), snapshot / "data/train_prefs-00000-of-00001.parquet");
  const std::string env = "HF_HUB_CACHE=" + quoted(tmp / "hub") + " ";
  const auto split = run_command(env + eval_prefs("--data org/prefs --split test_prefs"));
  INFO(split.err);
  CHECK(split.exit_code == 0);
  CHECK(split.out == reference.out);
  const auto parquet = run_command(env + eval_prefs("--data org/prefs --split train_prefs"));
  if (parquet.exit_code == 2) {  // a build without Arrow says so in one line
    check_refused(parquet, "without Parquet support");
  } else {
    INFO(parquet.err);
    CHECK(parquet.exit_code == 0);
    CHECK(parquet.out == reference.out);
  }
  const auto truncated = fixture("datasets/truncated.parquet");
  check_refused(run_command(eval_prefs("--data " + quoted(truncated))),
                parquet.exit_code == 2 ? "without Parquet support" : truncated.string() + ":");
  check_refused(run_command(env + eval_prefs("--data org/prefs")),
                "has no split 'train' (by its file names); it has test_prefs, train_prefs");
  check_refused(run_command(env + eval_prefs("--data org/prefs --split nope")), "has no split 'nope'");
  check_refused(run_command(eval_prefs("--data " + quoted(jsonl) + " --split test_prefs")),
                "--split test_prefs applies to a dataset folder");

  // Renamed fields.
  std::ifstream in(jsonl);
  std::string line, renamed;
  while (std::getline(in, line)) {
    auto row = nlohmann::json::parse(line);
    nlohmann::json out{{"question", row["prompt"]}, {"good", row["chosen"]}, {"bad", row["rejected"]}};
    renamed += out.dump() + "\n";
  }
  write_bytes(tmp / "renamed.jsonl", renamed);
  const std::string fields = " --prompt-field question --chosen-field good --rejected-field bad";
  CHECK(run_command(eval_prefs("--data " + quoted(tmp / "renamed.jsonl") + fields)).out == reference.out);
  check_refused(run_command(eval_prefs("--data " + quoted(tmp / "renamed.jsonl"))),
                "renamed.jsonl:1: missing field \"chosen\"");
}
