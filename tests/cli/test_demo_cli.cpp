// `fpokit demo --quick` through the real binary on the embedded default (examples/demo): the whole
// mission end to end, its summary asserted (docs/demo.md).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::quoted;
using test::read_bytes;
using test::run_command;
using test::TempDir;

TEST_CASE("demo --quick: every method learns the preference, FPO moves its features less than DPO and SimPO",
          "[cli][demo]") {
  TempDir tmp;
  const auto out = tmp / "demo";
  const auto r = run_command(fpokit_cmd("demo --quick --quiet --out " + quoted(out)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("Top shifted features") && Catch::Contains("wall time"));
  const auto s = nlohmann::json::parse(read_bytes(out / "summary.json"));
  CHECK(read_bytes(out / "summary.txt") == r.out);

  const double base_polite = s["base"]["samples"]["polite_fraction"].get<double>();
  std::map<std::string, double> feature_mse;
  bool contrast_feature = false;
  REQUIRE(s["methods"].size() == 4);
  for (const auto& m : s["methods"]) {
    const auto name = m["name"].get<std::string>();
    INFO(name << ": " << m.dump());
    CHECK(m["heldout"]["reward_accuracy"].get<double>() >= 0.75);
    CHECK(m["heldout"]["dpo_beta_0.1"]["reward_accuracy"].get<double>() >= 0.75);
    CHECK(m["samples"]["polite_fraction"].get<double>() > base_polite);
    CHECK(m["kl_to_base"].get<double>() > 0);
    CHECK(std::filesystem::exists(out / name / "model" / "model.safetensors"));
    feature_mse[name] = m["heldout"]["feature_mse"].get<double>();
    CHECK(m["top_features"].size() == 5);
    for (const auto& f : m["top_features"]) contrast_feature = contrast_feature || f["contrast_word"].get<bool>();
  }
  // The FPO claim on this default: its constrained features moved least.
  CHECK(feature_mse.at("fpo") < feature_mse.at("simpo"));
  CHECK(feature_mse.at("fpo") < feature_mse.at("dpo"));
  // Among the top shifted features, one speaks the contrast (logit lens or its top tokens).
  CHECK(contrast_feature);

  // The drift report and its HTML view exist and are whole (the view was rendered from the report,
  // so the report opened).
  CHECK(read_bytes(out / "drift.h5").substr(1, 3) == "HDF");
  CHECK_THAT(read_bytes(out / "drift.html"), Catch::Contains("</html>"));
  std::ifstream samples(out / "samples.jsonl");
  int64_t lines = 0;
  for (std::string line; std::getline(samples, line);) ++lines;
  CHECK(lines == 5 * s["budget"]["sample_prompts"].get<int64_t>());

  // A finished demo is never overwritten by accident.
  const auto again = run_command(fpokit_cmd("demo --quick --quiet --out " + quoted(out)));
  CHECK(again.exit_code == 2);
  CHECK_THAT(again.err, Catch::Contains("holds a finished demo") && Catch::Contains("--force"));
}

TEST_CASE("demo --quick --retrain-sae trains the SAE again and runs the whole demo on it", "[cli][demo]") {
  TempDir tmp;
  const auto out = tmp / "demo";
  const auto r = run_command(fpokit_cmd("demo --quick --retrain-sae --quiet --out " + quoted(out)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("retrained"));
  const auto s = nlohmann::json::parse(read_bytes(out / "summary.json"));
  INFO(s["sae"].dump());
  // The SAE the demo used is the one it trained (SAELens format under <out>/sae), and it is a
  // working one: the committed SAE has FVU 0.019 and L0 16.
  CHECK(s["sae"]["retrained"].get<bool>());
  const auto sae_path = std::filesystem::path(s["sae"]["path"].get<std::string>());
  CHECK(sae_path == out / "sae" / "blocks.1.hook_resid_post");
  CHECK(std::filesystem::exists(sae_path / "sae_weights.safetensors"));
  CHECK(std::filesystem::exists(sae_path / "cfg.json"));
  CHECK(s["sae"]["fvu"].get<double>() < 0.1);
  CHECK(s["sae"]["l0"].get<double>() == Approx(16).margin(0.5));
  // Every method, FPO's constraint included, and the drift report ran to the end with it.
  for (const auto& m : s["methods"]) {
    INFO(m["name"]);
    CHECK(m["heldout"]["reward_accuracy"].get<double>() >= 0.75);
  }
  CHECK(read_bytes(out / "drift.h5").substr(1, 3) == "HDF");
}
