// fpokit drift (analysis/drift): a planted shift is found, identical models give zeros, every
// column equals a brute-force computation, the bootstrap is seeded, preference splits and FPO
// selections reach the result.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "fpokit/analysis/drift/drift_data.h"
#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/analysis/stats/feature_tags.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/io/sae_io.h"
#include "drift_test_util.h"

using namespace fpokit;
using fpokit::test::drift_fixture;
using fpokit::test::small_drift_options;

namespace {

const analysis::SplitStats& split(const analysis::AlignedDrift& a, const std::string& name) {
  for (const auto& s : a.splits)
    if (s.name == name) return s;
  FAIL("no split " << name);
  throw std::logic_error("unreachable");
}

const analysis::Ranking& ranking(const analysis::AlignedDrift& a, const std::string& name) {
  for (const auto& r : a.rankings)
    if (r.name == name) return r;
  FAIL("no ranking " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("drift: a planted decoder direction ranks first, and its logit lens matches numpy") {
  const auto expect = test::drift_expectations();
  const int planted = expect["planted_feature"].get<int>();
  const auto r = analysis::run_drift(small_drift_options());
  REQUIRE(r.aligned.size() == 1);
  const auto& a = r.aligned[0];
  const auto& s = split(a, "all").stats;
  REQUIRE(s.d_sae() == 24);
  CHECK(ranking(a, "abs_delta_write").features.front() == planted);
  const auto& effect = ranking(a, "abs_effect_size");
  REQUIRE_FALSE(effect.features.empty());
  CHECK(effect.features.front() == planted);
  CHECK(s.q_value[planted] < 0.01);
  CHECK(s.delta_mean[planted] > 0);
  for (int f = 0; f < 24; ++f)
    if (f != planted) CHECK(std::abs(s.delta_mean[f]) <= 0.1 * std::abs(s.delta_mean[planted]));
  CHECK(split(a, "all").tags[planted] == static_cast<uint8_t>(analysis::stats::FeatureTag::Up));
  // The planted shift changes the next-token distributions.
  CHECK(a.kl[0].kl.mean() > 0);
  CHECK(a.resid_delta_norm == Approx(expect["planted_scale"].get<double>()).epsilon(1e-4));

  // Logit lens of the planted feature through each model's final norm and unembedding.
  const auto& features = a.examples.features;
  const auto it = std::find(features.begin(), features.end(), planted);
  REQUIRE(it != features.end());
  const auto row = static_cast<int64_t>(it - features.begin());
  const int64_t k = a.lens_base.k;
  REQUIRE(k == 10);
  std::vector<int64_t> promoted_base(a.lens_base.promoted_ids.begin() + row * k,
                                     a.lens_base.promoted_ids.begin() + (row + 1) * k);
  std::vector<int64_t> suppressed_base(a.lens_base.suppressed_ids.begin() + row * k,
                                       a.lens_base.suppressed_ids.begin() + (row + 1) * k);
  std::vector<int64_t> promoted_aligned(a.lens_aligned.promoted_ids.begin() + row * k,
                                        a.lens_aligned.promoted_ids.begin() + (row + 1) * k);
  CHECK(promoted_base == expect["logit_lens_base"]["promoted"].get<std::vector<int64_t>>());
  CHECK(suppressed_base == expect["logit_lens_base"]["suppressed"].get<std::vector<int64_t>>());
  CHECK(promoted_aligned == expect["logit_lens_planted"]["promoted"].get<std::vector<int64_t>>());

  // Examples: the top activation under the aligned model is the feature's largest, and the window
  // holds the real tokens around it.
  const auto n_ex = a.examples.n_examples;
  const auto W = a.examples.window;
  CHECK(a.examples.group[row * n_ex] == 0);
  const int64_t seq = a.examples.sequence[row * n_ex];
  REQUIRE(seq >= 0);
  const float centre = a.examples.act_aligned[(row * n_ex) * W + W / 2];
  CHECK(centre == Approx(s.max_aligned[planted]).epsilon(1e-5));
  CHECK(a.examples.token_ids[(row * n_ex) * W + W / 2] >= 0);
  CHECK_FALSE(r.vocab_ids.empty());
}

TEST_CASE("drift: identical models give exact zeros and nothing significant") {
  auto o = small_drift_options();
  o.aligned = {o.base};
  const auto r = analysis::run_drift(o);
  const auto& a = r.aligned[0];
  const auto& s = split(a, "all").stats;
  for (int f = 0; f < 24; ++f) {
    CHECK(s.delta_mean[f] == 0.0);
    CHECK(s.mean_abs_paired_diff[f] == 0.0);
    CHECK(s.on_off_rate[f] == 0.0);
    CHECK(s.off_on_rate[f] == 0.0);
    CHECK_FALSE(s.q_value[f] < o.alpha);
    const auto tag = static_cast<analysis::stats::FeatureTag>(split(a, "all").tags[f]);
    CHECK(tag != analysis::stats::FeatureTag::Up);
    CHECK(tag != analysis::stats::FeatureTag::Down);
  }
  CHECK(a.kl[0].kl.mean() == 0.0);
  CHECK(a.kl[0].kl.max() == 0.0);
  CHECK(a.resid_delta_norm == 0.0);
  CHECK(ranking(a, "abs_effect_size").features.empty());
}

TEST_CASE("drift: per-feature columns equal a brute-force computation") {
  auto o = small_drift_options();
  o.outlier_factor = 1e9;  // keep every text position
  o.bootstrap = 0;
  const auto r = analysis::run_drift(o);
  const auto& s = split(r.aligned[0], "all").stats;

  // The same sequences through the models and the SAE, one at a time.
  const auto tokenizer = lm::Tokenizer::from_directory(o.base);
  analysis::DriftDataOptions data_options;
  data_options.tokens = o.tokens;
  data_options.context_size = o.context_size;
  const auto data = analysis::read_drift_data(o.data, *tokenizer, o.base, data_options);
  const auto base = lm::load_model(o.base);
  const auto aligned = lm::load_model(o.aligned[0]);
  const auto sae = sae::load_sae(o.sae);
  const auto hook = lm::HookName::parse("blocks.1.hook_resid_post");
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> fb, fa;
  std::vector<int64_t> unit;
  for (const auto& seq : data.sequences) {
    const auto ids = torch::tensor(seq.ids, torch::kInt64).unsqueeze(0);
    auto features = [&](const lm::CausalLM& m) {
      lm::Hooks h;
      h.capture(hook).stop_after_last_read();
      m->forward({ids, {}}, &h);
      return sae->encode(h.captured().at(hook).reshape({-1, 32}));
    };
    const auto b = features(base), a = features(aligned);
    for (size_t t = 0; t < seq.ids.size(); ++t) {
      if (seq.groups[t] != analysis::TokenGroup::Text) continue;
      fb.push_back(b[static_cast<int64_t>(t)].to(torch::kFloat64));
      fa.push_back(a[static_cast<int64_t>(t)].to(torch::kFloat64));
      unit.push_back(seq.unit);
    }
  }
  const auto B = torch::stack(fb), A = torch::stack(fa);  // [T, 24] float64
  const double T = static_cast<double>(B.size(0));
  REQUIRE(s.n_tokens == B.size(0));
  const auto on_b = (B > 0).to(torch::kFloat64), on_a = (A > 0).to(torch::kFloat64);
  auto col = [](const torch::Tensor& t) { return t.contiguous(); };
  const auto freq_b = col(on_b.mean(0)), freq_a = col(on_a.mean(0));
  const auto mean_b = col(B.mean(0)), mean_a = col(A.mean(0));
  const auto mabs = col((A - B).abs().mean(0));
  const auto onoff = col((on_b * (1 - on_a)).mean(0)), offon = col(((1 - on_b) * on_a).mean(0));
  const auto max_b = col(std::get<0>(B.max(0))), max_a = col(std::get<0>(A.max(0)));
  const auto active_mean_a = col((A.sum(0) / on_a.sum(0)));
  const auto cb = B - B.mean(0), ca = A - A.mean(0);
  const auto corr = col((cb * ca).sum(0) / ((cb * cb).sum(0).sqrt() * (ca * ca).sum(0).sqrt()));
  // Sequence-level paired differences: per unit the mean over its tokens of (a - b).
  std::map<int64_t, std::vector<int64_t>> rows_of;
  for (size_t i = 0; i < unit.size(); ++i) rows_of[unit[i]].push_back(static_cast<int64_t>(i));
  std::vector<torch::Tensor> d;
  for (const auto& [u, rows] : rows_of) {
    const auto idx = torch::tensor(rows, torch::kInt64);
    d.push_back((A.index_select(0, idx) - B.index_select(0, idx)).mean(0));
  }
  const auto D = torch::stack(d);
  const auto effect = col(D.mean(0) / D.std(0));  // Cohen's d_z, sd with n - 1

  const auto norms = sae->W_dec.norm(2, 1).to(torch::kFloat64);
  const auto write = col((mean_a - mean_b) * norms);
  auto close = [](double got, double want) {
    if (std::isnan(want)) return std::isnan(got);
    return std::abs(got - want) <= 1e-5 * std::max(1.0, std::abs(want));
  };
  for (int64_t f = 0; f < 24; ++f) {
    INFO("feature " << f);
    CHECK(close(s.freq_base[f], freq_b[f].item<double>()));
    CHECK(close(s.freq_aligned[f], freq_a[f].item<double>()));
    CHECK(close(s.mean_base[f], mean_b[f].item<double>()));
    CHECK(close(s.mean_aligned[f], mean_a[f].item<double>()));
    CHECK(close(s.delta_mean[f], mean_a[f].item<double>() - mean_b[f].item<double>()));
    CHECK(close(s.mean_abs_paired_diff[f], mabs[f].item<double>()));
    CHECK(close(s.on_off_rate[f], onoff[f].item<double>()));
    CHECK(close(s.off_on_rate[f], offon[f].item<double>()));
    CHECK(close(s.max_base[f], max_b[f].item<double>()));
    CHECK(close(s.max_aligned[f], max_a[f].item<double>()));
    if (on_a.sum(0)[f].item<double>() > 0) CHECK(close(s.mean_active_aligned[f], active_mean_a[f].item<double>()));
    CHECK(close(s.paired_corr[f], corr[f].item<double>()));
    CHECK(close(s.delta_write[f], write[f].item<double>()));
    CHECK(close(s.effect_size[f], effect[f].item<double>()));
    const double fb_ = freq_b[f].item<double>(), fa_ = freq_a[f].item<double>();
    CHECK(close(s.log10_freq_base[f], std::log10(fb_ + 1e-10)));
    CHECK(close(s.dlog10_freq[f], std::log10((fa_ + 1e-10) / (fb_ + 1e-10))));
    CHECK(close(s.rel_delta_mean[f], (mean_a[f].item<double>() - mean_b[f].item<double>()) / max_b[f].item<double>()));
    if (on_b.sum(0)[f].item<double>() > 0 && on_a.sum(0)[f].item<double>() > 0)
      CHECK(close(s.delta_mean_active[f],
                  active_mean_a[f].item<double>() - (B.sum(0)[f] / on_b.sum(0)[f]).item<double>()));
  }
  CHECK(T > 1000);
}

TEST_CASE("drift: bootstrap intervals are deterministic for a seed") {
  auto o = small_drift_options();
  o.tokens = 16 * 31;
  const auto r1 = analysis::run_drift(o);
  const auto r2 = analysis::run_drift(o);
  o.seed = 7;
  const auto r3 = analysis::run_drift(o);
  const auto& s1 = r1.aligned[0].splits[0].stats;
  const auto& s2 = r2.aligned[0].splits[0].stats;
  const auto& s3 = r3.aligned[0].splits[0].stats;
  bool any_differs = false;
  for (int f = 0; f < 24; ++f) {
    CHECK(s1.ci_low[f] == s2.ci_low[f]);
    CHECK(s1.ci_high[f] == s2.ci_high[f]);
    if (std::isfinite(s1.ci_low[f]) && s1.ci_low[f] != s3.ci_low[f]) any_differs = true;
  }
  CHECK(any_differs);
  const int planted = test::drift_expectations()["planted_feature"].get<int>();
  CHECK(s1.ci_low[planted] > 0);  // the planted shift's interval excludes 0
}

TEST_CASE("drift: preference data gives prompt/response/chosen/rejected splits and the chosen-rejected gap") {
  auto o = small_drift_options();
  o.data = drift_fixture("prefs.jsonl");
  o.tokens = 100000;
  const auto r = analysis::run_drift(o);
  CHECK(r.data_kind == "preference");
  const auto& a = r.aligned[0];
  std::vector<std::string> names;
  for (const auto& s : a.splits) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"all", "prompt", "response", "chosen", "rejected"});
  const auto n = [&](const std::string& name) { return split(a, name).stats.n_tokens; };
  CHECK(n("chosen") + n("rejected") == n("response"));
  CHECK(n("prompt") + n("response") == n("all"));
  CHECK(n("prompt") > 0);
  REQUIRE(a.pref_gap_base.size() == 24);
  const auto& c = split(a, "chosen").stats;
  const auto& rj = split(a, "rejected").stats;
  for (int f = 0; f < 24; ++f) {
    CHECK(a.pref_gap_base[f] == Approx(c.mean_base[f] - rj.mean_base[f]).margin(1e-12));
    CHECK(a.delta_pref_gap[f] == Approx(a.pref_gap_aligned[f] - a.pref_gap_base[f]).margin(1e-12));
  }
  CHECK(r.excluded_repeat > 0);  // the rejected sequences' prompt positions are not counted twice
}

TEST_CASE("drift: an FPO run's selection counts split constrained from unconstrained features") {
  test::TempDir tmp;
  const auto run = tmp / "fpo_run";
  std::filesystem::create_directories(run / "model");
  for (const auto& e : std::filesystem::directory_iterator(drift_fixture("planted")))
    std::filesystem::copy_file(e.path(), run / "model" / e.path().filename());
  const int planted = test::drift_expectations()["planted_feature"].get<int>();
  nlohmann::json sel{{"sae", drift_fixture("sae").string()},
                     {"hook", "blocks.1.hook_resid_post"},
                     {"top_k", 3},
                     {"variant", "released"},
                     {"selections", 100}};
  std::vector<int64_t> counts(24, 0);
  counts[planted] = 100;
  counts[1] = 60;
  counts[2] = 40;
  sel["counts"] = counts;
  core::write_text_file_atomically(run / "fpo_selection.json", sel.dump());
  auto o = small_drift_options();
  o.aligned = {run};
  const auto r = analysis::run_drift(o);
  const auto& a = r.aligned[0];
  CHECK(a.label == "fpo_run");
  REQUIRE(a.constrained.size() == 24);
  CHECK(a.constrained[planted] == 1);
  CHECK(a.constrained[0] == 0);
  CHECK(a.in_topk_rate[1] == Approx(0.6));
  const auto& free = ranking(a, "unconstrained_abs_delta_write");
  REQUIRE_FALSE(free.features.empty());
  for (const int32_t f : free.features) CHECK(a.constrained[static_cast<size_t>(f)] == 0);
  CHECK(ranking(a, "abs_delta_write").features.front() == planted);
}

TEST_CASE("drift: several aligned models get one result each, with distinct labels") {
  auto o = small_drift_options();
  o.tokens = 8 * 31;
  o.bootstrap = 10;
  o.aligned = {drift_fixture("planted"), drift_fixture("base"), drift_fixture("planted")};
  const auto r = analysis::run_drift(o);
  REQUIRE(r.aligned.size() == 3);
  CHECK(r.aligned[0].label == "planted");
  CHECK(r.aligned[1].label == "base_2");
  CHECK(r.aligned[2].label == "planted_2");
  const auto& s0 = r.aligned[0].splits[0].stats;
  const auto& s2 = r.aligned[2].splits[0].stats;
  for (int f = 0; f < 24; ++f) CHECK(s0.delta_mean[f] == s2.delta_mean[f]);
  CHECK(r.aligned[1].splits[0].stats.delta_mean.cwiseAbs().maxCoeff() == 0.0);
}
