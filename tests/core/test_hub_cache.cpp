// core::resolve_local_or_hub: hub names in a fake local cache laid out as huggingface_hub lays it
// out (refs/<revision> holding a commit, snapshots/<commit>/ with files linked into blobs/).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/hub_cache.h"
#include "test_support.h"

using namespace fpokit;
namespace fs = std::filesystem;

namespace {

// Sets (or unsets) environment variables for the scope, restoring them after.
class ScopedEnv {
 public:
  void set(const char* name, const std::optional<std::string>& value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) {
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        ::unsetenv(it->first.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

const std::string kMain = "0123456789abcdef0123456789abcdef01234567";
const std::string kOld = "89abcdef0123456789abcdef0123456789abcdef";

// One cached repository: refs/main -> kMain, refs/v1 -> kOld, each snapshot with config.json (a
// link into blobs/, as huggingface_hub makes them) and, in main, an SAE-style sub-folder.
fs::path make_repo(const fs::path& cache, const std::string& folder) {
  const auto repo = cache / folder;
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "refs");
  test::write_bytes(repo / "refs/main", kMain);  // huggingface_hub writes no newline
  test::write_bytes(repo / "refs/v1", kOld + "\n");
  for (const auto& commit : {kMain, kOld}) {
    const auto snap = repo / "snapshots" / commit;
    fs::create_directories(snap / "layer_12/width_16k/average_l0_71");
    test::write_bytes(repo / "blobs" / ("cfg-" + commit), "{\"commit\": \"" + commit + "\"}");
    fs::create_symlink(fs::path("../../blobs") / ("cfg-" + commit), snap / "config.json");
    test::write_bytes(snap / "layer_12/width_16k/average_l0_71/params.npz", "npz");
  }
  return repo;
}

std::string error_of(const std::string& text, core::HubRepoType type = core::HubRepoType::Model) {
  try {
    (void)core::resolve_local_or_hub(text, type);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("hub names parse as org/name[@revision][:path] and nothing else", "[core][hub]") {
  auto n = core::parse_hub_name("google/gemma-scope-2b-pt-res@v1.0:layer_12/width_16k/average_l0_71");
  REQUIRE(n);
  CHECK(n->repo_id == "google/gemma-scope-2b-pt-res");
  CHECK(n->revision == "v1.0");
  CHECK(n->path_in_repo == "layer_12/width_16k/average_l0_71");
  n = core::parse_hub_name("gpt2");
  REQUIRE(n);
  CHECK((n->repo_id == "gpt2" && n->revision.empty() && n->path_in_repo.empty()));
  CHECK(core::parse_hub_name("org/name@refs/pr/1")->revision == "refs/pr/1");
  for (const char* not_a_name : {"", "/abs/path", "./rel", "../up", "a/b/c", "org/na me", "org/-x", "org/x..y",
                                 "org/name@", "org/name:", "org/name:../x", "org/name@a/../b", "org//name"})
    CHECK_FALSE(core::parse_hub_name(not_a_name));
}

TEST_CASE("the cache folder follows HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME in that order", "[core][hub]") {
  ScopedEnv env;
  env.set("HF_HUB_CACHE", "/a/hub");
  env.set("HUGGINGFACE_HUB_CACHE", "/legacy/hub");
  env.set("HF_HOME", "/b");
  env.set("XDG_CACHE_HOME", "/c");
  env.set("HOME", "/d");
  CHECK(core::hub_cache_location().path == "/a/hub");
  env.set("HF_HUB_CACHE", std::nullopt);
  CHECK(core::hub_cache_location().path == "/legacy/hub");
  env.set("HUGGINGFACE_HUB_CACHE", std::nullopt);
  CHECK(core::hub_cache_location().path == "/b/hub");
  env.set("HF_HOME", std::nullopt);
  CHECK(core::hub_cache_location().path == "/c/huggingface/hub");
  env.set("XDG_CACHE_HOME", std::nullopt);
  CHECK(core::hub_cache_location().path == "/d/.cache/huggingface/hub");
  CHECK(core::hub_cache_location().source == "default");
}

TEST_CASE("hub names resolve to snapshots of the local cache, offline", "[core][hub]") {
  test::TempDir tmp;
  const auto cache = tmp / "hub";
  const auto repo = make_repo(cache, "models--org--tiny");
  make_repo(cache, "datasets--org--prefs");
  make_repo(cache, "models--gpt2");
  ScopedEnv env;
  env.set("HF_HUB_CACHE", std::nullopt);
  env.set("HUGGINGFACE_HUB_CACHE", std::nullopt);
  env.set("HF_HOME", tmp.path().string());  // HF_HOME/hub

  using core::HubRepoType;
  CHECK(core::resolve_local_or_hub("org/tiny", HubRepoType::Model) == repo / "snapshots" / kMain);
  CHECK(test::read_bytes(core::resolve_local_or_hub("org/tiny", HubRepoType::Model) / "config.json").find(kMain) !=
        std::string::npos);  // the link into blobs/ is followed
  CHECK(core::resolve_local_or_hub("org/tiny@v1", HubRepoType::Model) == repo / "snapshots" / kOld);
  CHECK(core::resolve_local_or_hub("org/tiny@" + kOld, HubRepoType::Model) == repo / "snapshots" / kOld);
  CHECK(core::resolve_local_or_hub("org/tiny:layer_12/width_16k/average_l0_71", HubRepoType::Model) ==
        repo / "snapshots" / kMain / "layer_12/width_16k/average_l0_71");
  CHECK(core::resolve_local_or_hub("org/tiny@v1:config.json", HubRepoType::Model) ==
        repo / "snapshots" / kOld / "config.json");
  CHECK(core::resolve_local_or_hub("gpt2", HubRepoType::Model) == cache / "models--gpt2/snapshots" / kMain);
  CHECK(core::resolve_local_or_hub("org/prefs", HubRepoType::Dataset) ==
        cache / "datasets--org--prefs/snapshots" / kMain);

  // And back: the repository a snapshot path belongs to (for labels and model_name).
  const auto sub = core::hub_name_of_path(repo / "snapshots" / kMain / "layer_12/width_16k/");
  REQUIRE(sub);
  CHECK((sub->repo_id == "org/tiny" && sub->revision == kMain && sub->path_in_repo == "layer_12/width_16k"));
  CHECK(core::hub_name_of_path(cache / "models--gpt2/snapshots" / kMain)->repo_id == "gpt2");
  CHECK(core::hub_name_of_path(cache / "datasets--org--prefs/snapshots" / kMain)->repo_id == "org/prefs");
  CHECK_FALSE(core::hub_name_of_path(tmp / "models/tiny-llama"));
  CHECK_FALSE(core::hub_name_of_path(repo / "snapshots/not-a-commit"));

  // A local path wins over a cached repository of the same name.
  const auto local = tmp / "org/tiny";
  fs::create_directories(local);
  {
    struct Cwd {
      fs::path old = fs::current_path();
      ~Cwd() { fs::current_path(old); }
    } cwd;
    fs::current_path(tmp.path());
    CHECK(core::resolve_local_or_hub("org/tiny", HubRepoType::Model) == "org/tiny");
  }

  // What is missing is named, with where fpokit looked and the command that fetches it.
  auto e = error_of("org/absent");
  CHECK_THAT(e, Catch::Contains("neither a local path nor in the local Hugging Face cache") &&
                    Catch::Contains((cache / "models--org--absent").string()) &&
                    Catch::Contains("the cache named by HF_HOME") &&
                    Catch::Contains("huggingface-cli download org/absent`"));
  e = error_of("org/tiny", HubRepoType::Dataset);  // a model repo, asked for as a dataset
  CHECK_THAT(e, Catch::Contains("datasets--org--tiny") &&
                    Catch::Contains("huggingface-cli download org/tiny --repo-type dataset"));
  e = error_of("org/tiny@v2");
  CHECK_THAT(e, Catch::Contains("has no revision 'v2'") && Catch::Contains("refs: main, v1") &&
                    Catch::Contains(kMain) && Catch::Contains("--revision v2"));
  e = error_of("org/tiny:layer_12/width_65k");
  CHECK_THAT(e, Catch::Contains("has no 'layer_12/width_65k'") && Catch::Contains("config.json, layer_12") &&
                    Catch::Contains("--include 'layer_12/width_65k*'"));
  // What cannot be a hub name is a path, left to its reader to report missing.
  CHECK(core::resolve_local_or_hub("./no/such/dir", HubRepoType::Model) == "./no/such/dir");
  CHECK(core::resolve_local_or_hub("/no/such/dir", HubRepoType::Model) == "/no/such/dir");
  // A damaged cache: a ref that is not a commit, a ref whose snapshot is gone.
  test::write_bytes(repo / "refs/main", "not-a-commit");
  CHECK_THAT(error_of("org/tiny"), Catch::Contains("should hold a 40-hex commit"));
  test::write_bytes(repo / "refs/main", kMain);
  core::remove_tree(repo / "snapshots" / kOld);
  CHECK_THAT(error_of("org/tiny@v1"), Catch::Contains("snapshot folder is missing"));
}
