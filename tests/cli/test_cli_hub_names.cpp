// Hub names on the command line (core/io/hub_cache.h, tools/hub_names.h): a model and a dataset
// file from a fake local hub cache give exactly what their local paths give; what is not cached
// is one line naming where fpokit looked and the download command; nothing is ever fetched.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "cli_checks.h"
#include "test_support.h"

using namespace fpokit::test;
namespace fs = std::filesystem;

namespace {

const std::string kCommit = "4a1d0c1c2b0ec7ee8b3b1f8e8f1e0d2c3b4a5f60";

// <cache>/<type>s--org--<name>/{refs/main, snapshots/<commit>/<files>}, files linked into blobs/.
fs::path cache_repo(const fs::path& cache, const std::string& folder, const std::vector<fs::path>& files) {
  const auto repo = cache / folder;
  const auto snapshot = repo / "snapshots" / kCommit;
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "blobs");
  fs::create_directories(snapshot);
  write_bytes(repo / "refs/main", kCommit);
  for (const auto& f : files) {
    const auto blob = repo / "blobs" / f.filename();
    fs::copy_file(f, blob);
    fs::create_symlink(fs::path("../..") / "blobs" / f.filename(), snapshot / f.filename());
  }
  return snapshot;
}

}  // namespace

TEST_CASE("cli: --model and --data take names from the local hub cache", "[cli][hub]") {
  TempDir tmp;
  const auto cache = tmp / "hub";
  const auto model = repo_file("models/tiny-llama");
  std::vector<fs::path> model_files;
  for (const auto& e : fs::directory_iterator(model))
    if (e.is_regular_file()) model_files.push_back(e.path());
  cache_repo(cache, "models--org--tiny-llama", model_files);
  const auto data = cache_repo(cache, "datasets--org--corpus", {repo_file("models/tiny-corpus.jsonl")});
  const std::string env = "HF_HUB_CACHE=" + quoted(cache) + " HF_HUB_OFFLINE=1 ";

  const auto local = run_command(fpokit_cmd("tokenize --model " + quoted(model) + " --text 'Hello hub'"));
  const auto cached = run_command(env + fpokit_cmd("tokenize --model org/tiny-llama --text 'Hello hub'"));
  REQUIRE(local.exit_code == 0);
  CHECK(cached.exit_code == 0);
  CHECK(cached.out == local.out);
  CHECK(run_command(env + fpokit_cmd("tokenize --model org/tiny-llama@main --text 'Hello hub'")).out == local.out);

  // The resolved snapshot is what the run records (--dump-config prints the config it would save).
  const auto dumped = run_command(env + fpokit_cmd("sae train --model org/tiny-llama --data "
                                                   "org/corpus:tiny-corpus.jsonl --hook blocks.0.hook_resid_post "
                                                   "--tokens 1024 --out " +
                                                   quoted(tmp / "run") + " --dump-config"));
  INFO(dumped.err);
  REQUIRE(dumped.exit_code == 0);
  CHECK_THAT(dumped.out, Catch::Contains((data / "tiny-corpus.jsonl").string()) &&
                             Catch::Contains("models--org--tiny-llama/snapshots/" + kCommit));

  // Not cached, a missing revision, a split the dataset lacks: one line each, exit 2.
  check_refused(run_command(env + fpokit_cmd("tokenize --model org/absent --text x")),
                "huggingface-cli download org/absent`");
  check_refused(run_command(env + fpokit_cmd("tokenize --model org/tiny-llama@v9 --text x")),
                "has no revision 'v9' (refs: main");
  // A dataset repository is read by split (docs/datasets.md): this one's only file is "train".
  const auto folder = run_command(env + fpokit_cmd("sae train --model org/tiny-llama --data org/corpus --hook "
                                                   "blocks.0.hook_resid_post --tokens 1024 --out " +
                                                   quoted(tmp / "run4") + " --dump-config"));
  INFO(folder.err);
  CHECK(folder.exit_code == 0);
  CHECK_THAT(folder.out, Catch::Contains("datasets--org--corpus/snapshots/" + kCommit + "\""));
  check_refused(run_command(env + fpokit_cmd("sae train --model org/tiny-llama --data org/corpus --split test "
                                             "--hook blocks.0.hook_resid_post --tokens 1024 --out " +
                                             quoted(tmp / "run2"))),
                "has no split 'test' (by its file names); it has train");
  check_refused(run_command(env + fpokit_cmd("sae train --model org/tiny-llama --data org/corpus:missing.jsonl "
                                             "--hook blocks.0.hook_resid_post --tokens 1024 --out " +
                                             quoted(tmp / "run3"))),
                "has no 'missing.jsonl'");
  CHECK_FALSE(fs::exists(tmp / "run2"));
  CHECK_FALSE(fs::exists(tmp / "run3"));
}
