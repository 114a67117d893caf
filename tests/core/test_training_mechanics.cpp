// core/train: gradient clipping against torch.nn.utils.clip_grad_norm_'s rule, the checkpoint
// folder protocol both trainers follow, and the metrics log's resume (no step logged twice).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_file.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/core/train/gradient_clipping.h"
#include "fpokit/core/train/metrics_log.h"
#include "test_support.h"

using namespace fpokit;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

std::vector<torch::Tensor> params_with_grads(const std::vector<std::vector<float>>& grads) {
  std::vector<torch::Tensor> params;
  for (const auto& g : grads) {
    auto p = torch::zeros({static_cast<int64_t>(g.size())}, torch::requires_grad());
    p.mutable_grad() = torch::tensor(g);
    params.push_back(p);
  }
  return params;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("clip_grad_norm scales every gradient by max_norm over the global norm") {
  auto params = params_with_grads({{3.0f, 0.0f}, {0.0f, 4.0f, 0.0f}});  // global norm 5
  const auto norm = core::clip_grad_norm(params, 1.0);
  CHECK(norm.item<double>() == Approx(5.0));
  const double coef = 1.0 / (5.0 + 1e-6);
  CHECK(params[0].grad()[0].item<double>() == Approx(3.0 * coef).epsilon(1e-6));
  CHECK(params[1].grad()[1].item<double>() == Approx(4.0 * coef).epsilon(1e-6));
  // The clipped gradients have norm max_norm (up to the 1e-6 of the rule).
  const auto after = torch::cat({params[0].grad(), params[1].grad()}).norm().item<double>();
  CHECK(after == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm leaves gradients under the limit untouched and skips parameters without one") {
  auto params = params_with_grads({{0.3f, 0.4f}});
  params.push_back(torch::zeros({2}, torch::requires_grad()));  // no gradient
  const auto before = params[0].grad().clone();
  const auto norm = core::clip_grad_norm(params, 1.0);
  CHECK(norm.item<double>() == Approx(0.5));
  CHECK(torch::equal(params[0].grad(), before));
  // max_norm 0: measure only.
  auto big = params_with_grads({{30.0f, 40.0f}});
  CHECK(core::clip_grad_norm(big, 0.0).item<double>() == Approx(50.0));
  CHECK(big[0].grad()[1].item<float>() == 40.0f);
  // Nothing has a gradient: an undefined norm, nothing touched.
  CHECK_FALSE(core::clip_grad_norm({torch::zeros({2}, torch::requires_grad())}, 1.0).defined());
}

TEST_CASE("a checkpoint folder round-trips its state and refuses other settings, listing each") {
  test::TempDir tmp;
  const core::CheckpointFolder folder(tmp.path());
  CHECK_FALSE(folder.exists());
  CHECK_NOTHROW(folder.refuse_fresh_start_over(false));
  CHECK_THROWS_WITH(folder.load({{"lr", 1e-3}}), Contains("--resume: no checkpoint"));

  const nlohmann::json identity = {{"lr", 1e-3}, {"seed", 7}, {"method", "dpo"}};
  folder.save(identity, {{"step", 12}}, [](const fs::path& dir) { std::ofstream(dir / "weights.bin") << "w"; });
  REQUIRE(folder.exists());
  CHECK(*folder.newest() == tmp / "checkpoint-12");
  const auto loaded = folder.load(identity);
  CHECK(loaded.state.at("step").get<int>() == 12);
  CHECK(loaded.folder == tmp / "checkpoint-12");
  CHECK(fs::exists(loaded.folder / "weights.bin"));

  CHECK_THROWS_WITH(folder.refuse_fresh_start_over(false),
                    Contains("holds a checkpoint of an earlier run") && Contains("--resume"));
  CHECK_NOTHROW(folder.refuse_fresh_start_over(true));

  // Every difference, old and new values.
  const nlohmann::json other = {{"lr", 5e-3}, {"seed", 8}, {"method", "dpo"}, {"lora_r", 4}};
  try {
    folder.load(other);
    FAIL("a checkpoint with other settings was accepted");
  } catch (const InputError& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Contains("lr was 0.001, now 0.005") && Contains("seed was 7, now 8") &&
                         Contains("lora_r was absent, now 4"));
    CHECK_THAT(what, !Contains("method was"));
  }

  // A failing save keeps the previous checkpoint whole and leaves no temporary folder.
  CHECK_THROWS(folder.save(identity, {{"step", 99}}, [](const fs::path&) { throw std::runtime_error("disk full"); }));
  CHECK(folder.load(identity).state.at("step").get<int>() == 12);
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"checkpoint-12"});

  folder.remove();
  CHECK_FALSE(folder.exists());
  CHECK(test::folder_entries(tmp.path()).empty());
}

TEST_CASE("a new checkpoint retires the older ones only after it is complete") {
  test::TempDir tmp;
  const core::CheckpointFolder folder(tmp.path());
  const nlohmann::json identity = {{"seed", 1}};
  for (int step : {5, 10}) {
    folder.save(identity, {{"step", step}}, [&](const fs::path& dir) {
      // While the new checkpoint is being written, the previous one is still there, whole.
      if (step == 10) CHECK(fs::exists(tmp / "checkpoint-5" / "trainer_state.json"));
      std::ofstream(dir / "w.bin") << step;
    });
  }
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"checkpoint-10"});
  // Saving the same step again (a resumed run's last save) replaces it.
  folder.save(identity, {{"step", 10}, {"again", true}},
              [](const fs::path& dir) { std::ofstream(dir / "w.bin") << 0; });
  CHECK(folder.load(identity).state.at("again").get<bool>());
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"checkpoint-10"});
}

TEST_CASE("startup takes the newest complete checkpoint and removes what dead processes left") {
  test::TempDir tmp;
  const core::CheckpointFolder folder(tmp.path());
  const nlohmann::json identity = {{"seed", 1}};
  folder.save(identity, {{"step", 4}}, [](const fs::path&) {});
  folder.save(identity, {{"step", 8}}, [](const fs::path&) {});
  // What a kill leaves: a committed older checkpoint not yet retired, a newer folder still under
  // its temporary name (incomplete), a checkpoint being retired, and a numbered folder without
  // trainer_state.json (never written by fpokit: not complete, so not taken).
  fs::copy(tmp / "checkpoint-8", tmp / "checkpoint-2", fs::copy_options::recursive);
  fs::create_directories(tmp / "checkpoint-12.tmp-999999999-0");
  fs::create_directories(tmp / "checkpoint-6.tmp-999999998-3");
  fs::create_directories(tmp / "checkpoint-20");
  CHECK(*folder.newest() == tmp / "checkpoint-8");
  CHECK(folder.load(identity).state.at("step").get<int>() == 8);
  CHECK_NOTHROW(folder.refuse_fresh_start_over(true));
  // The temporaries of dead processes are gone, the committed folders stay.
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"checkpoint-2", "checkpoint-20", "checkpoint-8"});
  // The next save retires every other checkpoint folder, the incomplete one too.
  folder.save(identity, {{"step", 9}}, [](const fs::path&) {});
  CHECK(*folder.newest() == tmp / "checkpoint-9");
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"checkpoint-9"});
}

TEST_CASE("a live process's temporary checkpoint is kept and the second run is refused") {
  test::TempDir tmp;
  const core::CheckpointFolder folder(tmp.path());
  // pid 1 (init) is always running.
  fs::create_directories(tmp / "checkpoint-3.tmp-1-0");
  CHECK_THROWS_WITH(folder.refuse_fresh_start_over(true),
                    Contains("another running fpokit process (pid 1)") && Contains(tmp.path().string()));
  CHECK(fs::exists(tmp / "checkpoint-3.tmp-1-0"));
}

TEST_CASE("resume_from tells a checkpoint, a run stopped before its first save and a finished run apart") {
  test::TempDir tmp;
  const std::vector<std::string> run_files = {"config.toml", "metrics.jsonl"};
  const core::CheckpointFolder missing(tmp / "missing");
  CHECK_THROWS_WITH(missing.resume_from(false, run_files),
                    Contains("holds no run to continue") && Contains("config.toml, metrics.jsonl"));
  const core::CheckpointFolder folder(tmp.path());
  // Killed before it wrote anything.
  CHECK(folder.resume_from(false, run_files) == core::ResumeFrom::Start);
  // Something that is not this command's run.
  std::ofstream(tmp / "notes.txt") << "mine";
  CHECK_THROWS_WITH(folder.resume_from(false, run_files), Contains("holds no run to continue"));
  std::ofstream(tmp / "metrics.jsonl") << "";
  CHECK(folder.resume_from(false, run_files) == core::ResumeFrom::Start);
  CHECK(folder.resume_from(true, run_files) == core::ResumeFrom::Finished);
  folder.save({}, {{"step", 1}}, [](const fs::path&) {});
  CHECK(folder.resume_from(true, run_files) == core::ResumeFrom::Checkpoint);
}

TEST_CASE("a checkpoint folder names a damaged state file") {
  test::TempDir tmp;
  const core::CheckpointFolder folder(tmp.path());
  const auto state_file = tmp / "checkpoint-3" / "trainer_state.json";
  fs::create_directories(state_file.parent_path());
  std::ofstream(state_file) << "{\"step\": 3";
  CHECK_THROWS_AS(folder.load({}), CheckpointError);
  CHECK_THROWS_WITH(folder.load({}), Contains("trainer_state.json") && Contains("not valid JSON"));
  std::ofstream(state_file) << "{\"step\": 3}";
  CHECK_THROWS_WITH(folder.load({}), Contains("no \"identity\""));
  std::ofstream(state_file) << "{\"identity\": {}}";
  CHECK_THROWS_WITH(folder.load({}), Contains("no \"step\""));
}

TEST_CASE("a resumed metrics log drops what the interrupted run logged after its checkpoint") {
  test::TempDir tmp;
  const auto path = tmp / "metrics.jsonl";
  {
    core::MetricsLog log(path, std::nullopt);
    for (int step = 1; step <= 6; ++step) log.write({{"step", step}, {"loss", 1.0 / step}});
    log.write({{"note", "no step"}});
  }
  std::ofstream(path, std::ios::app) << "{\"step\": 7, \"lo";  // torn by the crash
  {
    core::MetricsLog log(path, 4);  // the checkpoint was at step 4
    log.write({{"step", 5}, {"loss", 0.2}});
  }
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 6);
  for (int i = 0; i < 4; ++i) CHECK(nlohmann::json::parse(lines[i]).at("step").get<int>() == i + 1);
  CHECK(nlohmann::json::parse(lines[4]).at("note") == "no step");
  CHECK(nlohmann::json::parse(lines[5]).at("loss").get<double>() == 0.2);
  // A fresh start replaces the file.
  { core::MetricsLog log(path, std::nullopt); }
  CHECK(lines_of(path).empty());
}
