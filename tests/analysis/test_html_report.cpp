// The drift report's HTML view (analysis/report/html_report.h): one self-contained page whose
// embedded data is the report's, within 5 MB for 200 features × 20 contexts; `fpokit report` and
// `fpokit drift --html` write it, and refuse what is not a drift report. The page's behaviour in a
// real browser is tests/browser/check_html_report.sh.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <regex>

#include <nlohmann/json.hpp>

#include "fpokit/analysis/drift/drift_report_writer.h"
#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/analysis/report/html_report.h"
#include "fpokit/analysis/stats/feature_drift_stats.h"
#include "fpokit/core/errors.h"
#include "drift_test_util.h"

using namespace fpokit;
using fpokit::test::drift_fixture;
using fpokit::test::quoted;
using fpokit::test::small_drift_options;
namespace fs = std::filesystem;

namespace {

// The JSON the page embeds.
nlohmann::json embedded_data(const std::string& html) {
  const std::string open = "<script id=\"report-data\" type=\"application/json\">";
  const auto begin = html.find(open);
  REQUIRE(begin != std::string::npos);
  const auto end = html.find("</script>", begin);
  REQUIRE(end != std::string::npos);
  return nlohmann::json::parse(html.substr(begin + open.size(), end - begin - open.size()));
}

// Nothing the page loads from elsewhere: no external script, style sheet, font, image or frame.
void check_self_contained(const std::string& html) {
  CHECK_FALSE(std::regex_search(html, std::regex(R"(<script[^>]*\bsrc\s*=)", std::regex::icase)));
  CHECK_FALSE(std::regex_search(html, std::regex(R"(<link\b)", std::regex::icase)));
  CHECK_FALSE(std::regex_search(html, std::regex(R"(<(img|iframe)\b)", std::regex::icase)));
  CHECK_FALSE(std::regex_search(html, std::regex(R"(@import|url\s*\()", std::regex::icase)));
  CHECK_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=\s*["']?(https?:)?//)", std::regex::icase)));
}

// A report of realistic size: d_sae 16384, six rankings over the same 200 features, 10 + 10 contexts
// of 25 tokens each, 200-bin histograms, a 10-token logit lens.
analysis::DriftResult large_result() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  analysis::DriftResult r;
  const int64_t F = 16384, n_sel = 200, n_ex = 20, W = 25, n_bins = 200, k = 10;
  r.options.base = "base";
  r.options.sae = "sae";
  r.options.data = "data.jsonl";
  r.hook = "blocks.6.hook_resid_post";
  r.sae_format = "saelens";
  r.sae_architecture = "topk";
  r.sae_normalization = "none";
  r.d_in = 2048;
  r.d_sae = F;
  r.decoder_norms = Eigen::VectorXd::Ones(F);
  r.data_kind = "text";
  r.base_fidelity.model = "base";
  r.analysed_tokens = 65536;
  analysis::AlignedDrift a;
  a.label = "dpo";
  a.source.path = a.source.weights = "runs/dpo";
  a.source.kind = "train_output";
  analysis::SplitStats s;
  s.name = "all";
  for (const auto& c : analysis::stats::FeatureDriftStats::columns()) {
    Eigen::VectorXd v(F);
    for (int64_t f = 0; f < F; ++f) v[f] = c.name == std::string_view("q_value") ? (u(rng) + 1) / 2 : u(rng);
    s.stats.*c.member = v;
  }
  s.stats.n_tokens = 65536;
  for (int64_t f = 0; f < F; ++f) s.tags.push_back(static_cast<uint8_t>(f % 6));
  a.splits.push_back(s);
  analysis::KlSummary kl;
  kl.split = "all";
  for (int i = 0; i < 100; ++i) kl.kl.add((u(rng) + 1) / 10);
  a.kl.push_back(kl);
  std::vector<int32_t> sel;
  for (int32_t f = 0; f < n_sel; ++f) sel.push_back(f * 80);
  for (const char* name : {"abs_delta_write", "abs_dlog10_freq", "abs_effect_size", "low_paired_corr", "up", "down"}) {
    analysis::Ranking rk;
    rk.name = name;
    rk.metric = "delta_write";
    rk.k = n_sel;
    rk.features = sel;
    std::shuffle(rk.features.begin(), rk.features.end(), rng);
    rk.values.assign(n_sel, 1.0);
    a.rankings.push_back(rk);
  }
  auto& e = a.examples;
  e.features = sel;
  e.n_examples = n_ex;
  e.window = W;
  for (int64_t j = 0; j < n_sel * n_ex; ++j) {
    e.group.push_back(static_cast<int8_t>((j % n_ex) < n_ex / 2 ? 0 : 1));
    e.sequence.push_back(j);
    e.center.push_back(12);
  }
  for (int64_t j = 0; j < n_sel * n_ex * W; ++j) {
    e.token_ids.push_back(static_cast<int32_t>(rng() % 50000));
    e.act_base.push_back(static_cast<float>(std::max(0.0, u(rng)) * 7));
    e.act_aligned.push_back(static_cast<float>(std::max(0.0, u(rng)) * 7));
  }
  for (int64_t j = 0; j < n_sel * n_bins; ++j) {
    e.hist_base.push_back(static_cast<int64_t>(rng() % 1000));
    e.hist_aligned.push_back(static_cast<int64_t>(rng() % 1000));
  }
  for (int64_t b = 0; b <= n_bins; ++b) r.histogram_edges.push_back(std::pow(10.0, -6 + b / 20.0));
  for (auto* lens : {&a.lens_base, &a.lens_aligned}) {
    lens->k = k;
    for (int64_t j = 0; j < n_sel * k; ++j) {
      lens->promoted_ids.push_back(static_cast<int64_t>(rng() % 50000));
      lens->suppressed_ids.push_back(static_cast<int64_t>(rng() % 50000));
      lens->promoted_values.push_back(static_cast<float>(u(rng)));
      lens->suppressed_values.push_back(static_cast<float>(u(rng)));
    }
  }
  r.aligned.push_back(a);
  for (int64_t id = 0; id < 50000; ++id) {
    r.vocab_ids.push_back(id);
    r.vocab_strings.push_back("tok" + std::to_string(id));
  }
  return r;
}

}  // namespace

TEST_CASE("html report: the page embeds the report's data and loads nothing from elsewhere") {
  test::TempDir tmp;
  auto o = small_drift_options();
  o.examples = 3;
  const auto result = analysis::run_drift(o);
  const auto report = tmp / "r.h5";
  analysis::write_drift_report(result, report, false);
  const auto html_path = tmp / "r.html";
  analysis::write_drift_report_html(report, html_path, false);
  const auto html = test::read_bytes(html_path);
  check_self_contained(html);
  const auto d = embedded_data(html);
  REQUIRE(d["aligned"].size() == 1);
  const auto& a = d["aligned"][0];
  CHECK(a["label"] == result.aligned[0].label);
  // Every ranking's features are rows of the table, with the report's values.
  const auto ids = a["table"]["feature_id"].get<std::vector<int64_t>>();
  for (const auto& rk : result.aligned[0].rankings)
    for (const auto f : rk.features) CHECK(std::find(ids.begin(), ids.end(), f) != ids.end());
  const int planted = test::drift_expectations()["planted_feature"];
  const auto at = std::find(ids.begin(), ids.end(), planted);
  REQUIRE(at != ids.end());
  const double dw = a["table"]["delta_write"][at - ids.begin()];
  CHECK(dw == Approx(result.aligned[0].splits[0].stats.delta_write[planted]).epsilon(1e-3));
  // The planted feature's panel data: contexts under both models, histograms, logit lens.
  const auto& f = a["selected"][std::to_string(planted)];
  CHECK(f["examples"].size() >= 2);
  CHECK(f["hist"]["base"].size() + 1 == f["hist"]["edges"].size());
  int64_t active = 0;
  for (const auto c : f["hist"]["aligned"]) active += c.get<int64_t>();
  CHECK(active == std::llround(result.aligned[0].splits[0].stats.freq_aligned[planted] *
                               static_cast<double>(result.aligned[0].splits[0].stats.n_tokens)));
  CHECK(f["lens_aligned"]["promoted"].size() == static_cast<size_t>(o.logit_lens_k));
  CHECK(d["vocab"].size() > 10);
  CHECK(d["fidelity"]["model"].size() == 2);
  CHECK(a["volcano"]["feature_id"].size() > 0);
}

TEST_CASE("html report: 200 features x 20 contexts at d_sae 16384 stay under 5 MB") {
  test::TempDir tmp;
  const auto report = tmp / "big.h5";
  analysis::write_drift_report(large_result(), report, false);
  const auto html = tmp / "big.html";
  analysis::write_drift_report_html(report, html, false);
  const auto size = fs::file_size(html);
  INFO("page size " << size);
  CHECK(size < 5u * 1000 * 1000);
  const auto d = embedded_data(test::read_bytes(html));
  CHECK(d["aligned"][0]["table"]["feature_id"].size() == 200);
  CHECK(d["aligned"][0]["selected"]["80"]["examples"].size() == 20);
}

TEST_CASE("fpokit report and drift --html write the page, and what is not a drift report is refused") {
  test::TempDir tmp;
  const auto report = tmp / "r.h5";
  auto o = small_drift_options();
  analysis::write_drift_report(analysis::run_drift(o), report, false);
  const auto html = tmp / "r.html";
  auto r = test::run_command(test::fpokit_cmd("--quiet report " + quoted(report) + " --html " + quoted(html)));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(fs::file_size(html) > 1000);
  // An existing page is not replaced without --force.
  r = test::run_command(test::fpokit_cmd("--quiet report " + quoted(report) + " --html " + quoted(html)));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--html"));
  CHECK(test::run_command(test::fpokit_cmd("--quiet report " + quoted(report) + " --html " + quoted(html) + " --force"))
            .exit_code == 0);
  // A file that is not a drift report (here not even HDF5).
  r = test::run_command(test::fpokit_cmd("--quiet report " + quoted(drift_fixture("sae/sae_weights.safetensors")) +
                                         " --html " + quoted(tmp / "x.html")));
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(tmp / "x.html"));
  // fpokit drift --html writes both files.
  r = test::run_command(test::fpokit_cmd("--quiet drift --base " + quoted(drift_fixture("base")) + " --aligned " +
                                         quoted(drift_fixture("planted")) + " --sae " + quoted(drift_fixture("sae")) +
                                         " --data " + quoted(drift_fixture("corpus.jsonl")) +
                                         " --context-size 32 --tokens 1240 --bootstrap 0 --out " +
                                         quoted(tmp / "d.h5") + " --html " + quoted(tmp / "d.html")));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(tmp / "d.h5"));
  CHECK(fs::exists(tmp / "d.html"));
}
