// `fpokit sae train|eval|encode` and `fpokit acts cache` through the real binary, on the bundled
// tiny Llama (models/tiny-llama) and corpus (models/tiny-corpus.jsonl).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

using namespace fpokit;
using test::run_command;
using test::TempDir;
using test::fpokit_cmd;
using test::quoted;
using test::read_bytes;
using test::repo_file;

namespace {

const std::string kModel = "'" + repo_file("models/tiny-llama").string() + "'";
const std::string kData = "'" + repo_file("models/tiny-corpus.jsonl").string() + "'";

// Small, fast training flags shared by the tests.
const std::string kTrainFlags =
    " --model " + kModel + " --data " + kData +
    " --hook blocks.1.hook_resid_post --width 256 --tokens 8192 --batch-tokens 512 --context-size 32"
    " --buffer-tokens 2048 --learning-rate 1e-3 --quiet --k 8";

const std::string kTrainFlagsK4 = kTrainFlags.substr(0, kTrainFlags.size() - 1) + "4";

void check_one_line_error(const test::CommandResult& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Contains(needle));
}

}  // namespace

TEST_CASE("sae train then eval and encode on the bundled model", "[cli][sae]") {
  TempDir tmp;
  const auto out = tmp / "run";
  auto r = run_command(fpokit_cmd("sae train" + kTrainFlags + " --out " + quoted(out)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto sae_dir = out / "blocks.1.hook_resid_post";
  CHECK(std::filesystem::exists(sae_dir / "cfg.json"));
  CHECK(std::filesystem::exists(sae_dir / "sae_weights.safetensors"));
  CHECK(std::filesystem::exists(out / "config.toml"));
  CHECK_FALSE(core::CheckpointFolder(out).exists());
  CHECK(read_bytes(out / "training_log.jsonl").find("\"fvu\"") != std::string::npos);

  r = run_command(fpokit_cmd("sae eval --sae " + quoted(sae_dir) + " --model " + kModel + " --data " + kData +
                             " --tokens 2048 --context-size 32 --out " + quoted(tmp / "eval.json")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("CE loss recovered"));
  const auto j = nlohmann::json::parse(read_bytes(tmp / "eval.json"));
  CHECK(j["l0"].get<double>() == Approx(8.0));
  CHECK(j["fvu"].get<double>() < 0.8);
  // Splicing in a trained SAE must hurt far less than zero-ablating the residual stream.
  CHECK(j["ce_loss_with_sae"].get<double>() < j["ce_loss_with_ablation"].get<double>());
  CHECK(j["ce_loss_recovered"].get<double>() > 0.3);
  CHECK(j["kl_div_with_sae"].get<double>() >= 0.0);

  r = run_command(fpokit_cmd("sae encode --sae " + quoted(sae_dir) + " --model " + kModel + " --data " + kData +
                             " --tokens 300 --context-size 32 --out " + quoted(tmp / "f.safetensors")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  lm::SafetensorsFile f(tmp / "f.safetensors");
  const auto indptr = f.load("indptr");
  CHECK(indptr.size(0) == 301);
  CHECK(indptr[-1].item<int64_t>() == f.load("indices").size(0));
  CHECK(f.load("token_ids").size(0) == 300);
}

TEST_CASE("dump-config output fed back through a config file reproduces the run", "[cli][sae]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("sae train" + kTrainFlagsK4 + " --out " + quoted(tmp / "a") + " --dump-config"));
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("\nk=4\n"));
  CHECK_FALSE(std::filesystem::exists(tmp / "a"));
  std::ofstream(tmp / "cfg.toml") << r.out;
  r = run_command(fpokit_cmd("sae train --config " + quoted(tmp / "cfg.toml") + " --out " + quoted(tmp / "b")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("sae train" + kTrainFlagsK4 + " --out " + quoted(tmp / "c")));
  REQUIRE(r.exit_code == 0);
  CHECK(read_bytes(tmp / "b/blocks.1.hook_resid_post/sae_weights.safetensors") ==
        read_bytes(tmp / "c/blocks.1.hook_resid_post/sae_weights.safetensors"));
}

TEST_CASE("an online run stopped and resumed equals an uninterrupted one bitwise", "[cli][sae][resume]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("sae train" + kTrainFlags + " --out " + quoted(tmp / "whole")));
  REQUIRE(r.exit_code == 0);
  r = run_command(
      fpokit_cmd("sae train" + kTrainFlags + " --out " + quoted(tmp / "split") + " --stop-after-tokens 3000"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(core::CheckpointFolder(tmp / "split").exists());
  // Without --resume the folder is refused rather than overwritten.
  r = run_command(fpokit_cmd("sae train" + kTrainFlags + " --out " + quoted(tmp / "split")));
  check_one_line_error(r, "--resume");
  r = run_command(fpokit_cmd("sae train" + kTrainFlags + " --out " + quoted(tmp / "split") + " --resume"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_bytes(tmp / "whole/blocks.1.hook_resid_post/sae_weights.safetensors") ==
        read_bytes(tmp / "split/blocks.1.hook_resid_post/sae_weights.safetensors"));
}

TEST_CASE("acts cache then offline training", "[cli][sae]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("acts cache --model " + kModel + " --data " + kData +
                                  " --hook blocks.0.hook_resid_post --tokens 4000 --context-size 32 --out " +
                                  quoted(tmp / "acts.h5")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("sae train --acts " + quoted(tmp / "acts.h5") +
                             " --arch jumprelu --width 128 --tokens 4096 --batch-tokens 512 --quiet --out " +
                             quoted(tmp / "off")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto cfg = nlohmann::json::parse(read_bytes(tmp / "off/blocks.0.hook_resid_post/cfg.json"));
  CHECK(cfg["architecture"] == "jumprelu");
  CHECK(cfg["d_in"] == 128);
}

TEST_CASE("bad SAE input gives one line and exit code 2", "[cli][sae][errors]") {
  TempDir tmp;
  const auto out = quoted(tmp / "out");
  SECTION("unknown hook name") {
    auto r = run_command(fpokit_cmd("sae train" + kTrainFlags + " --hook blocks.1.hook_mlp_in --out " + out));
    check_one_line_error(r, "blocks.1.hook_mlp_in");
  }
  SECTION("layer out of range") {
    auto r = run_command(fpokit_cmd("acts cache --model " + kModel + " --data " + kData +
                                    " --hook blocks.7.hook_resid_post --tokens 100 --out " + quoted(tmp / "a.h5")));
    check_one_line_error(r, "blocks.7");
  }
  SECTION("empty dataset") {
    std::ofstream(tmp / "empty.jsonl") << "\n";
    auto r =
        run_command(fpokit_cmd("sae train --model " + kModel + " --data " + quoted(tmp / "empty.jsonl") +
                               " --hook blocks.1.hook_resid_post --tokens 100 --context-size 32 --quiet --out " + out));
    check_one_line_error(r, "no tokens");
    CHECK_FALSE(std::filesystem::exists(tmp / "out"));
  }
  SECTION("SAE width not matching the hook") {
    // The SAELens fixture SAEs have d_in 16; the bundled model is 128 wide.
    auto r = run_command(fpokit_cmd("sae eval --sae " + quoted(test::fixture("sae/saelens_topk")) + " --model " +
                                    kModel + " --data " + kData + " --hook blocks.0.hook_resid_post"));
    check_one_line_error(r, "d_in");
  }
  SECTION("corrupt HDF5 activation file") {
    std::ofstream(tmp / "bad.h5") << "this is not HDF5";
    auto r =
        run_command(fpokit_cmd("sae train --acts " + quoted(tmp / "bad.h5") + " --tokens 100 --quiet --out " + out));
    check_one_line_error(r, "bad.h5");
  }
  SECTION("corrupt Gemma Scope npz") {
    auto r = run_command(fpokit_cmd("sae eval --sae " + quoted(test::fixture("sae/bad/truncated.npz")) + " --model " +
                                    kModel + " --data " + kData + " --hook blocks.0.hook_resid_post"));
    check_one_line_error(r, "truncated.npz");
  }
}
