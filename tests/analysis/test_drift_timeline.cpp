// The drift timeline (analysis/drift/drift_timeline_recorder.h): a snapshot of a model equals the
// drift report of that model on the same tokens, the first snapshot of the starting model is exact
// zeros, the file reads back as written, and a resumed recorder drops the snapshots after its
// checkpoint, takes them again identically and refuses other settings or a missing base cache.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/analysis/drift/drift_timeline.h"
#include "fpokit/analysis/drift/drift_timeline_recorder.h"
#include "fpokit/analysis/stats/feature_drift_stats.h"
#include "fpokit/analysis/stats/feature_tags.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/model/load_model.h"
#include "drift_test_util.h"

using namespace fpokit;
using fpokit::test::drift_fixture;
using fpokit::test::small_drift_options;
namespace fs = std::filesystem;

namespace {

// The options of small_drift_options() (text corpus, 40 rows of 32 tokens), every 2 steps.
analysis::DriftTimelineOptions small_timeline_options() {
  const auto d = small_drift_options();
  analysis::DriftTimelineOptions o;
  o.data = d.data;
  o.sae = d.sae;
  o.every = 2;
  o.tokens = d.tokens;
  o.context_size = d.context_size;
  o.batch_size = d.batch_size;
  return o;
}

lm::CausalLM load(const std::string& name) {
  return lm::load_model(drift_fixture(name), lm::LoadOptions{torch::kCPU, torch::kFloat32});
}

size_t column_index(std::string_view name) {
  const auto names = analysis::stats::FeatureDriftStats::column_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  FAIL("no column " << name);
  return 0;
}

// Bit for bit, NaN included (a statistic undefined for a feature is NaN in every snapshot).
bool same_bits(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() || std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0)
      return false;
  return true;
}

}  // namespace

TEST_CASE("drift timeline: a snapshot equals the drift report on the same tokens, step 0 is exact zeros") {
  test::TempDir tmp;
  analysis::DriftTimelineRecorder recorder(small_timeline_options(), drift_fixture("base"), tmp.path());
  auto base = load("base");
  base->train();  // as the trainer leaves it: the snapshot switches to eval and back
  recorder.observe(*base, 0, 4);
  CHECK(base->is_training());
  REQUIRE(recorder.timeline().snapshots.size() == 1);
  const auto& first = recorder.timeline().snapshots[0];
  CHECK(first.step == 0);
  CHECK(first.resid_delta_norm == 0.0);
  for (const float v : first.columns[column_index("delta_mean")]) CHECK(v == 0.0f);
  for (const auto tag : first.tags)
    CHECK((tag == static_cast<uint8_t>(analysis::stats::FeatureTag::Unchanged) ||
           tag == static_cast<uint8_t>(analysis::stats::FeatureTag::Dead)));  // nothing moved

  // Steps 1 (not due) and 2 (due) with the planted model standing in for the trained policy.
  auto planted = load("planted");
  recorder.observe(*planted, 1, 4);
  CHECK(recorder.timeline().snapshots.size() == 1);
  recorder.observe(*planted, 2, 4);
  REQUIRE(recorder.timeline().snapshots.size() == 2);
  const auto& snap = recorder.timeline().snapshots[1];
  CHECK(snap.step == 2);

  // `fpokit drift` of base vs planted on the same tokens: the same per-feature columns, except the
  // bootstrap intervals (the timeline's snapshots have none).
  auto o = small_drift_options();
  o.bootstrap = 0;
  const auto report = analysis::run_drift(o);
  const auto& stats = report.aligned[0].splits[0].stats;
  CHECK(recorder.timeline().settings.analysed_tokens == report.analysed_tokens);
  int compared = 0;
  const auto& columns = analysis::stats::FeatureDriftStats::columns();
  for (size_t c = 0; c < columns.size(); ++c) {
    const Eigen::VectorXd& expected = stats.*columns[c].member;
    for (int64_t f = 0; f < expected.size(); ++f) {
      INFO(columns[c].name << " feature " << f);
      const double got = snap.columns[c][static_cast<size_t>(f)];
      if (std::isnan(expected[f])) {
        CHECK(std::isnan(got));
      } else {
        CHECK(got == Approx(static_cast<float>(expected[f])).epsilon(1e-5).margin(1e-6));
        ++compared;
      }
    }
  }
  CHECK(compared > 20 * 24);
  CHECK(snap.tags == report.aligned[0].splits[0].tags);
  CHECK(snap.resid_delta_norm == Approx(report.aligned[0].resid_delta_norm).epsilon(1e-6));

  // The file holds what the recorder has.
  const auto read = analysis::read_drift_timeline(recorder.timeline_path());
  REQUIRE(read.snapshots.size() == 2);
  CHECK(read.snapshots[1].step == 2);
  CHECK(same_bits(read.snapshots[1].columns, snap.columns));
  CHECK(read.snapshots[1].tags == snap.tags);
  CHECK(read.settings.difference(recorder.timeline().settings).empty());
}

TEST_CASE("drift timeline: a resumed recorder retakes the snapshots after its checkpoint, identically") {
  test::TempDir tmp;
  auto base = load("base");
  auto planted = load("planted");
  std::vector<std::vector<float>> at_two;
  {
    analysis::DriftTimelineRecorder recorder(small_timeline_options(), drift_fixture("base"), tmp.path());
    recorder.observe(*base, 0, 6);
    recorder.observe(*planted, 2, 6);
    at_two = recorder.timeline().snapshots[1].columns;
    recorder.observe(*planted, 4, 6);
    REQUIRE(recorder.timeline().snapshots.size() == 3);
  }
  // Killed after the snapshot of step 4 and before a checkpoint of it: resumed from step 3.
  {
    analysis::DriftTimelineRecorder resumed(small_timeline_options(), drift_fixture("base"), tmp.path());
    resumed.observe(*planted, 3, 6);
    REQUIRE(resumed.timeline().snapshots.size() == 2);  // 0 and 2; 4 is dropped
    CHECK(same_bits(resumed.timeline().snapshots[1].columns, at_two));
    resumed.observe(*planted, 4, 6);
    resumed.observe(*planted, 6, 6);
    const auto read = analysis::read_drift_timeline(resumed.timeline_path());
    std::vector<int64_t> steps;
    for (const auto& s : read.snapshots) steps.push_back(s.step);
    CHECK(steps == std::vector<int64_t>{0, 2, 4, 6});
    CHECK(same_bits(read.snapshots[2].columns, at_two));  // the same model at step 4: the same numbers
  }
  SECTION("other settings are refused") {
    auto o = small_timeline_options();
    o.every = 3;
    analysis::DriftTimelineRecorder other(o, drift_fixture("base"), tmp.path());
    CHECK_THROWS_WITH(other.observe(*planted, 3, 6), Catch::Contains("other settings") && Catch::Contains("every"));
  }
  SECTION("a missing base cache is refused") {
    fs::remove(tmp.path() / "drift_timeline_base.h5");
    analysis::DriftTimelineRecorder other(small_timeline_options(), drift_fixture("base"), tmp.path());
    CHECK_THROWS_WITH(other.observe(*planted, 3, 6), Catch::Contains("drift_timeline_base.h5 is missing"));
  }
  SECTION("a gap is refused") {
    analysis::DriftTimelineRecorder other(small_timeline_options(), drift_fixture("base"), tmp.path());
    CHECK_THROWS_WITH(other.observe(*planted, 9, 12), Catch::Contains("no snapshot of step 8"));
  }
}

TEST_CASE("drift timeline: bad options are one clear error before anything is written") {
  test::TempDir tmp;
  auto o = small_timeline_options();
  SECTION("no data") {
    o.data.clear();
    CHECK_THROWS_WITH(analysis::DriftTimelineRecorder(o, drift_fixture("base"), tmp.path()),
                      Catch::Contains("--drift-data"));
  }
  SECTION("a missing data file") {
    o.data = tmp.path() / "none.jsonl";
    CHECK_THROWS_WITH(analysis::DriftTimelineRecorder(o, drift_fixture("base"), tmp.path()),
                      Catch::Contains("none.jsonl: no such file"));
  }
  SECTION("a hook past the last layer") {
    o.hook = "blocks.7.hook_resid_post";
    CHECK_THROWS_WITH(analysis::DriftTimelineRecorder(o, drift_fixture("base"), tmp.path()),
                      Catch::Contains("has 2 layers"));
  }
  SECTION("a non-positive interval") {
    o.every = -1;
    CHECK_THROWS_WITH(analysis::DriftTimelineRecorder(o, drift_fixture("base"), tmp.path()),
                      Catch::Contains("--drift-every must be a positive"));
  }
  CHECK(fs::is_empty(tmp.path()));
}
