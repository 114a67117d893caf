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

TEST_CASE("sae train --resume names a damaged optimizer state instead of failing inside LibTorch",
          "[cli][sae][resume]") {
  TempDir tmp;
  const auto out = tmp / "split";
  auto r = run_command(fpokit_cmd("sae train" + kTrainFlags + " --out " + quoted(out) + " --stop-after-tokens 3000"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto checkpoint = core::CheckpointFolder(out).newest();
  REQUIRE(checkpoint);
  const auto optimizer = *checkpoint / "blocks.1.hook_resid_post" / "optimizer.pt";
  const auto bytes = read_bytes(optimizer);
  test::write_bytes(optimizer, bytes.substr(0, bytes.size() / 3));
  r = run_command(fpokit_cmd("--quiet sae train" + kTrainFlags + " --out " + quoted(out) + " --resume"));
  check_one_line_error(r, optimizer.string() + " is damaged");
  test::write_bytes(optimizer, bytes);
  r = run_command(fpokit_cmd("sae train" + kTrainFlags + " --out " + quoted(out) + " --resume"));
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("sae train without --context-size: the model's limit, logged and recorded, each SAE labelled in the log",
          "[cli][sae]") {
  TempDir tmp;
  // Relative paths from another working directory: config.toml must still name the same files.
  const auto model = std::filesystem::relative(repo_file("models/tiny-llama"), tmp.path());
  const auto data = std::filesystem::relative(repo_file("models/tiny-corpus.jsonl"), tmp.path());
  auto r = run_command("cd " + quoted(tmp.path()) + " && " +
                       fpokit_cmd("sae train --model " + quoted(model) + " --data " + quoted(data) +
                                  " --hook blocks.1.hook_resid_post --width 64 --width 128 --k 4 --tokens 2048"
                                  " --batch-tokens 512 --buffer-tokens 1024 --quiet --out run"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // tiny-llama's max_position_embeddings is 256, below the default 1024.
  CHECK_THAT(r.err,
             Catch::Contains("--context-size not given: 256 tokens per row (the model's max_position_embeddings)"));
  const auto cfg = nlohmann::json::parse(read_bytes(tmp / "run/blocks.1.hook_resid_post-w64/cfg.json"));
  CHECK(cfg["metadata"]["context_size"] == 256);
  CHECK(cfg["metadata"]["model_name"] == "tiny-llama");

  const auto config = read_bytes(tmp / "run/config.toml");
  CHECK_THAT(config, Catch::Contains("\nmodel=\"" + repo_file("models/tiny-llama").lexically_normal().string() + "\""));
  CHECK_THAT(config, Catch::Contains("\nout=\"" + (tmp / "run").string() + "\""));

  std::ifstream log(tmp / "run/training_log.jsonl");
  std::string line;
  REQUIRE(std::getline(log, line));
  const auto first = nlohmann::json::parse(line);
  REQUIRE(first["saes"].size() == 2);
  CHECK(first["saes"][0]["sae"] == "blocks.1.hook_resid_post-w64");
  CHECK(first["saes"][0]["hook"] == "blocks.1.hook_resid_post");
  CHECK(first["saes"][0]["d_sae"] == 64);
  CHECK(first["saes"][0]["k"] == 4);
  CHECK(first["saes"][1]["d_sae"] == 128);

  // sae eval and sae encode take the context the SAE was trained with, and say so.
  r = run_command(fpokit_cmd("sae eval --sae " + quoted(tmp / "run/blocks.1.hook_resid_post-w64") + " --model " +
                             kModel + " --data " + kData + " --tokens 512"));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err,
             Catch::Contains("--context-size not given: 256 tokens per row (the context the SAE was trained with)"));
}

TEST_CASE("a corpus that runs out is said: sae train repeats it with a warning, acts cache and sae eval write less",
          "[cli][sae]") {
  TempDir tmp;
  std::ofstream(tmp / "short.jsonl") << "{\"text\": \"one short document about cats and dogs and birds\"}\n"
                                        "{\"text\": \"and another one about the sea and the sky\"}\n";
  const auto short_data = quoted(tmp / "short.jsonl");
  auto r = run_command(fpokit_cmd("sae train --model " + kModel + " --data " + short_data +
                                  " --hook blocks.1.hook_resid_post --width 64 --k 4 --tokens 256 --batch-tokens 32"
                                  " --buffer-tokens 32 --context-size 8 --quiet --out " +
                                  quoted(tmp / "run")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("the training data ran out") && Catch::Contains("pass 2 over it begins"));

  r = run_command(fpokit_cmd("acts cache --model " + kModel + " --data " + short_data +
                             " --hook blocks.1.hook_resid_post --tokens 100000 --context-size 8 --out " +
                             quoted(tmp / "acts.h5")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("fewer than the 100000 asked (--tokens)"));

  r = run_command(fpokit_cmd("sae eval --sae " + quoted(tmp / "run/blocks.1.hook_resid_post") + " --model " + kModel +
                             " --data " + short_data + " --tokens 100000"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("fewer than the 100000 asked (--tokens)"));
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
  // What the cache was harvested with, not the online default.
  CHECK(cfg["metadata"]["context_size"] == 32);
  CHECK(cfg["metadata"]["model_name"] == "tiny-llama");
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
  SECTION("an activation file that crashes libhdf5 (its structure is read in a child process first)") {
    const auto damaged = quoted(test::repo_file("tests/fuzz/known/activation_file-hdf5-global-heap-overlap.h5"));
    auto r = run_command(fpokit_cmd("--quiet sae train --acts " + damaged + " --tokens 100 --out " + out));
    check_one_line_error(r, "activation_file-hdf5-global-heap-overlap.h5 is damaged");
    CHECK_THAT(r.err, Catch::Contains("re-create it with `fpokit acts cache`"));
    CHECK_FALSE(std::filesystem::exists(tmp / "out"));
    r = run_command("FPOKIT_HDF5_CHECK_SECONDS=soon " +
                    fpokit_cmd("--quiet sae train --acts " + damaged + " --tokens 100 --out " + out));
    check_one_line_error(r, "FPOKIT_HDF5_CHECK_SECONDS='soon' is not a number of seconds");
  }
  SECTION("corrupt Gemma Scope npz") {
    auto r = run_command(fpokit_cmd("sae eval --sae " + quoted(test::fixture("sae/bad/truncated.npz")) + " --model " +
                                    kModel + " --data " + kData + " --hook blocks.0.hook_resid_post"));
    check_one_line_error(r, "truncated.npz");
  }
}
