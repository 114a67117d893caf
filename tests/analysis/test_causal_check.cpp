// The causal check of `fpokit drift --causal` (analysis/drift/causal_check.h): on the planted-drift
// fixture, clamping the planted feature removes the planted model's KL and no control feature
// removes any; the attribution equals a finite difference of the margin; the report stores it.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>

#include "fpokit/analysis/drift/causal_check.h"
#include "fpokit/analysis/drift/drift_data.h"
#include "fpokit/analysis/drift/drift_report_writer.h"
#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "fpokit/lm/model/hook_name.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/io/sae_io.h"
#include "drift_test_util.h"

using namespace fpokit;
using fpokit::test::drift_fixture;
using fpokit::test::small_drift_options;

namespace {

// base vs planted on the preference pairs, with the SAE whose planted feature fires on ~98% of
// tokens (sae_causal: it sees the planted shift wherever it is).
analysis::DriftOptions causal_options() {
  auto o = small_drift_options();
  o.sae = drift_fixture("sae_causal");
  o.data = drift_fixture("prefs.jsonl");
  o.tokens = 100000;
  o.bootstrap = 0;
  o.causal = 3;
  return o;
}

}  // namespace

TEST_CASE("causal check: clamping the planted feature removes the planted KL, controls remove none") {
  const auto r = analysis::run_drift(causal_options());
  REQUIRE(r.aligned[0].causal.has_value());
  const auto& c = *r.aligned[0].causal;
  const int planted = test::drift_expectations()["planted_feature"];
  CHECK(c.pairs == 24);
  CHECK(c.kl_aligned > 0);
  // The report's KL over its split all covers the same positions.
  CHECK(c.kl_aligned == Approx(r.aligned[0].kl[0].kl.mean()).epsilon(1e-6));
  int controls = 0;
  bool found = false;
  for (const auto& f : c.features) {
    INFO("feature " << f.feature << " (" << f.rankings << ")");
    if (f.control) {
      ++controls;
      CHECK(std::abs(f.clamp_kl_removed) <= 0.05);
      CHECK(f.rankings == "control");
      CHECK(f.feature != planted);
    } else if (f.feature == planted) {
      found = true;
      CHECK(f.clamp_kl_removed >= 0.9);
      CHECK_THAT(f.rankings, Catch::Contains("abs_delta_write#1"));
      // The clamp takes the margin the planted shift created back to about the base's (0).
      CHECK(f.clamp_margin_change == Approx(-c.margin_aligned).epsilon(0.1));
      // Adding the mean shift to the base recreates much of the drift.
      CHECK(f.add_kl > 0.25 * c.kl_aligned);
      CHECK(std::abs(f.attribution_aligned) > 0.1);
    }
  }
  CHECK(found);
  CHECK(controls == 3);
}

TEST_CASE("causal check: the attribution equals a finite difference of the margin") {
  const auto o = causal_options();
  // float64 throughout, so that the finite difference is not float32 rounding.
  const lm::LoadOptions load{torch::kCPU, torch::kFloat64};
  auto base = lm::load_model(drift_fixture("base"), load);
  auto planted = lm::load_model(drift_fixture("planted"), load);
  for (auto* m : {&base, &planted}) {
    (*m)->eval();
    for (auto& p : (*m)->parameters()) p.set_requires_grad(false);
  }
  auto sae = sae::load_sae(o.sae);
  sae->to(torch::kFloat64);
  sae->eval();
  for (auto& p : sae->parameters()) p.set_requires_grad(false);
  const auto tokenizer = lm::Tokenizer::from_directory(o.base);
  analysis::DriftDataOptions d;
  d.kind = "preference";
  d.tokens = 100000;
  const auto data = analysis::read_drift_data(o.data, *tokenizer, o.base, d);
  analysis::CausalInputs in;
  in.base = base.get();
  in.aligned = planted.get();
  in.sae = sae.get();
  in.hook = lm::HookName::parse("blocks.1.hook_resid_post");
  in.data = &data;
  in.features = {5, 9, 14, 17};
  in.delta_mean = Eigen::VectorXd::Zero(24);
  const analysis::CausalOptions co{.n = 4, .pairs = 24, .batch_size = 4};
  const auto result = analysis::run_causal_check(in, co);
  const double eps = 1e-3;
  int checked = 0;
  for (const auto& f : result.features)
    for (auto* model : {planted.get(), base.get()}) {
      const double attribution = model == planted.get() ? f.attribution_aligned : f.attribution_base;
      const double up = analysis::mean_margin_with_feature_scaled(in, *model, f.feature, 1 + eps, co);
      const double down = analysis::mean_margin_with_feature_scaled(in, *model, f.feature, 1 - eps, co);
      const double fd = (up - down) / (2 * eps);
      INFO("feature " << f.feature << (model == planted.get() ? " aligned" : " base") << ": attribution " << attribution
                      << ", finite difference " << fd);
      CHECK(attribution == Approx(fd).epsilon(1e-3).margin(1e-7));
      if (std::abs(fd) > 1e-3) ++checked;
    }
  CHECK(checked >= 6);
  // Scale 1 is the model itself: the base's margin against itself is 0.
  CHECK(analysis::mean_margin_with_feature_scaled(in, *base, 5, 1.0, co) == Approx(0).margin(1e-9));
}

TEST_CASE("causal check: stored in the report, and refused without preference pairs") {
  test::TempDir tmp;
  const auto r = analysis::run_drift(causal_options());
  const auto path = tmp / "c.h5";
  analysis::write_drift_report(r, path, false);
  auto f = core::hdf5::open_file(path);
  const auto ids = core::hdf5::read_int64_array(f.get(), "causal/feature_id");
  CHECK(ids.size() == r.aligned[0].causal->features.size());
  const auto removed = core::hdf5::read_double_array(f.get(), "causal/clamp_kl_removed");
  CHECK(removed[0] == Approx(r.aligned[0].causal->features[0].clamp_kl_removed));
  CHECK(core::hdf5::read_string_array(f.get(), "causal/group/categories") ==
        std::vector<std::string>{"top", "control"});

  auto o = causal_options();
  o.data = drift_fixture("corpus.jsonl");
  CHECK_THROWS_WITH(analysis::run_drift(o), Catch::Contains("--causal-data"));
  o.causal_data = drift_fixture("prefs.jsonl");
  o.tokens = 1240;
  o.context_size = 32;
  const auto with_data = analysis::run_drift(o);
  CHECK(with_data.aligned[0].causal->pairs == 24);
}
