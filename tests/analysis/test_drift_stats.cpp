// The streaming drift statistics (analysis/stats, docs/drift-statistics.md) against brute-force
// computations written here from the formulas: every column of PairedFeatureAccumulator::finish()
// on random sparse activations with sequences of varying length and a mask, merging, the
// bootstrap's determinism, identical models, a planted shift, Benjamini-Hochberg, the Student t
// distribution (scipy values), histogram quantiles and the bad-input contract.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "fpokit/analysis/stats/activation_batch.h"
#include "fpokit/analysis/stats/benjamini_hochberg.h"
#include "fpokit/analysis/stats/bootstrap_weights.h"
#include "fpokit/analysis/stats/feature_drift_stats.h"
#include "fpokit/analysis/stats/feature_histograms.h"
#include "fpokit/analysis/stats/feature_tags.h"
#include "fpokit/analysis/stats/log_histogram.h"
#include "fpokit/analysis/stats/paired_feature_accumulator.h"
#include "fpokit/analysis/stats/scalar_summary.h"
#include "fpokit/analysis/stats/sequence_effect_accumulator.h"
#include "fpokit/analysis/stats/student_t.h"
#include "fpokit/core/errors.h"

using namespace fpokit;
using namespace fpokit::analysis::stats;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Paired activations of several sequences, stored contiguously, with a mask.
struct PairedData {
  int64_t d = 0;
  std::vector<float> base, aligned;
  std::vector<int64_t> sequence_ids;
  std::vector<uint8_t> mask;
  std::vector<int64_t> starts;  // token index where each sequence starts, plus the end

  int64_t n_tokens() const { return static_cast<int64_t>(sequence_ids.size()); }
  int64_t n_sequences() const { return static_cast<int64_t>(starts.size()) - 1; }
  // Sequences [s0, s1) as one batch.
  ActivationBatch batch(int64_t s0, int64_t s1) const {
    const int64_t t0 = starts[s0], t1 = starts[s1];
    return {base.data() + t0 * d,
            aligned.data() + t0 * d,
            t1 - t0,
            d,
            sequence_ids.data() + t0,
            mask.empty() ? nullptr : mask.data() + t0};
  }
  bool selected(int64_t t) const { return mask.empty() || mask[t] != 0; }
};

// Element-wise identical, NaN matching NaN.
bool same(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  if (a.size() != b.size()) return false;
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

double lognormal(std::mt19937& rng, double mu, double sigma) {
  return std::exp(std::normal_distribution<double>(mu, sigma)(rng));
}

// Sparse ReLU-like activations. Feature 0 is dead under both models, 1 emerges (never active
// under base), 2 vanishes (never active under aligned); `shift_feature` (if >= 0) fires harder
// and more often under the aligned model. Sequence 3 is entirely masked when use_mask.
// rate_scale < 1 makes rows sparse enough for the accumulator's sparse-row path.
PairedData make_data(uint32_t seed, int64_t d, int n_sequences, bool use_mask, int shift_feature = -1,
                     bool identical = false, double rate_scale = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> length(1, 20);
  PairedData data;
  data.d = d;
  std::vector<double> rate(d), gain(d);
  for (int64_t f = 0; f < d; ++f) {
    rate[f] = (0.05 + 0.4 * u(rng)) * rate_scale;
    gain[f] = lognormal(rng, 0.0, 0.2);
  }
  for (int s = 0; s < n_sequences; ++s) {
    data.starts.push_back(data.n_tokens());
    const int len = length(rng);
    const int64_t id = 1000 + 7 * s;  // ids need not be consecutive
    for (int i = 0; i < len; ++i) {
      data.sequence_ids.push_back(id);
      if (use_mask) data.mask.push_back(s == 3 ? 0 : (u(rng) < 0.8 ? 1 : 0));
      for (int64_t f = 0; f < d; ++f) {
        float b = u(rng) < rate[f] ? static_cast<float>(lognormal(rng, -1.0, 1.0)) : 0.0f;
        float a;
        if (b > 0.0f) {
          const double r = u(rng);
          a = r < 0.1 ? 0.0f : (r < 0.3 ? b : static_cast<float>(b * gain[f] * lognormal(rng, 0.0, 0.3)));
        } else {
          a = u(rng) < 0.05 * rate_scale ? static_cast<float>(lognormal(rng, -1.5, 1.0)) : 0.0f;
        }
        if (f == shift_feature) {
          if (b > 0.0f) a = static_cast<float>(b * 1.5 + 0.1);
          if (b == 0.0f && u(rng) < 0.2) a = static_cast<float>(lognormal(rng, -1.0, 0.5));
        }
        if (f == 0) a = b = 0.0f;
        if (f == 1) b = 0.0f;
        if (f == 2) a = 0.0f;
        if (identical) a = b;
        data.base.push_back(b);
        data.aligned.push_back(a);
      }
    }
  }
  data.starts.push_back(data.n_tokens());
  return data;
}

// Feeds sequences [s0, s1) in batches of `per_batch` sequences.
void feed(PairedFeatureAccumulator& acc, const PairedData& data, int64_t s0, int64_t s1, int64_t per_batch) {
  for (int64_t s = s0; s < s1; s += per_batch) acc.add(data.batch(s, std::min(s1, s + per_batch)));
}

// |got - want| <= rel * max(|got|, |want|) + abs; NaN only matches NaN, inf only the same inf.
bool close(double got, double want, double rel = 1e-9, double abs = 1e-12) {
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
  if (std::isinf(want) || std::isinf(got)) return got == want;
  return std::fabs(got - want) <= rel * std::max(std::fabs(got), std::fabs(want)) + abs;
}

void check_column(const FeatureDriftStats& s, const std::string& name, const std::vector<double>& want) {
  const Eigen::VectorXd& got = s.column(name);
  REQUIRE(got.size() == static_cast<Eigen::Index>(want.size()));
  for (size_t f = 0; f < want.size(); ++f) {
    INFO(name << "[" << f << "]: got " << got[f] << ", want " << want[f]);
    CHECK(close(got[f], want[f]));
  }
}

// Type-7 quantile of sorted values; between an infinity and another value the nearer one (the
// convention of the bootstrap interval).
double type7(const std::vector<double>& sorted, double q) {
  const double r = q * static_cast<double>(sorted.size() - 1);
  const auto k = static_cast<size_t>(std::floor(r));
  const double g = r - static_cast<double>(k);
  if (g == 0.0 || k + 1 >= sorted.size()) return sorted[k];
  const double lo = sorted[k], hi = sorted[k + 1];
  if (lo == hi) return lo;
  if (std::isinf(lo) || std::isinf(hi)) return g < 0.5 ? lo : hi;
  return (1.0 - g) * lo + g * hi;
}

double dz_of(double mean, double sd) {
  if (sd > 0.0) return mean / sd;
  return mean == 0.0 ? 0.0 : (mean > 0.0 ? kInf : -kInf);
}

// Every column computed directly from the definitions, two-pass, in long double where it matters.
struct Reference {
  std::vector<std::string> names;
  std::vector<std::vector<double>> columns;
  std::vector<std::vector<double>> active_base, active_aligned;  // per feature, for the p99 check
  void add(const std::string& name, std::vector<double> v) {
    names.push_back(name);
    columns.push_back(std::move(v));
  }
};

Reference brute_force(const PairedData& data, const BootstrapOptions& boot, const Eigen::VectorXd* norms) {
  const int64_t d = data.d;
  Reference ref;
  ref.active_base.resize(d);
  ref.active_aligned.resize(d);
  std::vector<int64_t> sel;
  for (int64_t t = 0; t < data.n_tokens(); ++t) {
    if (data.selected(t)) sel.push_back(t);
  }
  const double n = static_cast<double>(sel.size());
  const auto A = [&](int64_t t, int64_t f) { return static_cast<long double>(data.aligned[t * d + f]); };
  const auto B = [&](int64_t t, int64_t f) { return static_cast<long double>(data.base[t * d + f]); };

  std::vector<double> freq_b(d), freq_a(d), lf_b(d), lf_a(d), dlf(d), mean_b(d), mean_a(d), dmean(d), ma_b(d), ma_a(d),
      dma(d), max_b(d), max_a(d), rel(d), write(d), mad(d), corr(d), onoff(d), offon(d);
  for (int64_t f = 0; f < d; ++f) {
    long double sb = 0, sa = 0, sab = 0, cb = 0, ca = 0, on_off = 0, off_on = 0, mxb = -kInf, mxa = -kInf;
    for (int64_t t : sel) {
      const long double b = B(t, f), a = A(t, f);
      sb += b;
      sa += a;
      sab += std::fabs(a - b);
      if (b > 0) {
        ++cb;
        ref.active_base[f].push_back(static_cast<double>(b));
      }
      if (a > 0) {
        ++ca;
        ref.active_aligned[f].push_back(static_cast<double>(a));
      }
      if (b > 0 && a == 0) ++on_off;
      if (b == 0 && a > 0) ++off_on;
      mxb = std::max(mxb, b);
      mxa = std::max(mxa, a);
    }
    freq_b[f] = static_cast<double>(cb / n);
    freq_a[f] = static_cast<double>(ca / n);
    lf_b[f] = std::log10(freq_b[f] + 1e-10);
    lf_a[f] = std::log10(freq_a[f] + 1e-10);
    dlf[f] = std::log10((freq_a[f] + 1e-10) / (freq_b[f] + 1e-10));
    mean_b[f] = static_cast<double>(sb / n);
    mean_a[f] = static_cast<double>(sa / n);
    dmean[f] = static_cast<double>((sa - sb) / n);
    ma_b[f] = cb > 0 ? static_cast<double>(sb / cb) : kNaN;
    ma_a[f] = ca > 0 ? static_cast<double>(sa / ca) : kNaN;
    dma[f] = ma_a[f] - ma_b[f];
    max_b[f] = static_cast<double>(mxb);
    max_a[f] = static_cast<double>(mxa);
    rel[f] = max_b[f] > 0 ? dmean[f] / max_b[f] : kNaN;
    write[f] = norms ? dmean[f] * (*norms)[f] : kNaN;
    mad[f] = static_cast<double>(sab / n);
    long double vb = 0, va = 0, cov = 0;
    const long double mb = sb / n, mA = sa / n;
    for (int64_t t : sel) {
      vb += (B(t, f) - mb) * (B(t, f) - mb);
      va += (A(t, f) - mA) * (A(t, f) - mA);
      cov += (B(t, f) - mb) * (A(t, f) - mA);
    }
    corr[f] = (vb > 0 && va > 0) ? static_cast<double>(cov / std::sqrt(vb * va)) : kNaN;
    onoff[f] = static_cast<double>(on_off / n);
    offon[f] = static_cast<double>(off_on / n);
  }
  ref.add("freq_base", freq_b);
  ref.add("freq_aligned", freq_a);
  ref.add("log10_freq_base", lf_b);
  ref.add("log10_freq_aligned", lf_a);
  ref.add("dlog10_freq", dlf);
  ref.add("mean_base", mean_b);
  ref.add("mean_aligned", mean_a);
  ref.add("delta_mean", dmean);
  ref.add("mean_active_base", ma_b);
  ref.add("mean_active_aligned", ma_a);
  ref.add("delta_mean_active", dma);
  ref.add("max_base", max_b);
  ref.add("max_aligned", max_a);
  ref.add("rel_delta_mean", rel);
  ref.add("delta_write", write);
  ref.add("mean_abs_paired_diff", mad);
  ref.add("paired_corr", corr);
  ref.add("on_off_rate", onoff);
  ref.add("off_on_rate", offon);

  // Sequence level: d_s of every sequence with a selected token.
  std::vector<std::vector<double>> ds;  // [sequence][feature]
  std::vector<int64_t> ids;
  for (int64_t s = 0; s < data.n_sequences(); ++s) {
    std::vector<long double> sum(d, 0.0L);
    int64_t c = 0;
    for (int64_t t = data.starts[s]; t < data.starts[s + 1]; ++t) {
      if (!data.selected(t)) continue;
      ++c;
      for (int64_t f = 0; f < d; ++f) sum[f] += A(t, f) - B(t, f);
    }
    if (c == 0) continue;
    std::vector<double> row(d);
    for (int64_t f = 0; f < d; ++f) row[f] = static_cast<double>(sum[f] / c);
    ds.push_back(row);
    ids.push_back(data.sequence_ids[data.starts[s]]);
  }
  const double m = static_cast<double>(ds.size());
  std::vector<double> effect(d), p(d), lo(d, kNaN), hi(d, kNaN), nseq(d, m);
  for (int64_t f = 0; f < d; ++f) {
    long double mean = 0, ss = 0;
    for (const auto& row : ds) mean += row[f];
    mean /= m;
    for (const auto& row : ds) ss += (row[f] - mean) * (row[f] - mean);
    const double sd = static_cast<double>(std::sqrt(ss / (m - 1)));
    effect[f] = dz_of(static_cast<double>(mean), sd);
    p[f] = sd > 0 ? student_t_two_sided_p(effect[f] * std::sqrt(m), m - 1) : (mean == 0 ? 1.0 : 0.0);
    std::vector<double> reps;
    for (int r = 0; r < boot.replicates; ++r) {
      long double w_sum = 0, wd = 0;
      std::vector<double> w(ds.size());
      for (size_t s = 0; s < ds.size(); ++s) {
        w[s] = poisson_bootstrap_weight(boot.seed, ids[s], r);
        w_sum += w[s];
        wd += w[s] * ds[s][f];
      }
      if (w_sum < 2) continue;
      const long double wmean = wd / w_sum;
      long double wss = 0;
      for (size_t s = 0; s < ds.size(); ++s) wss += w[s] * (ds[s][f] - wmean) * (ds[s][f] - wmean);
      reps.push_back(dz_of(static_cast<double>(wmean), static_cast<double>(std::sqrt(wss / (w_sum - 1)))));
    }
    if (!reps.empty()) {
      std::sort(reps.begin(), reps.end());
      lo[f] = type7(reps, 0.5 * (1 - boot.confidence));
      hi[f] = type7(reps, 0.5 * (1 + boot.confidence));
    }
  }
  ref.add("effect_size", effect);
  ref.add("p_value", p);
  ref.add("ci_low", lo);
  ref.add("ci_high", hi);
  ref.add("n_sequences_with_tokens", nseq);

  // Benjamini-Hochberg from its definition: q_i = min over p_j >= p_i of m' p_j / #{l : p_l <= p_j}.
  std::vector<double> q(d, kNaN);
  std::vector<double> finite;
  for (double x : p) {
    if (!std::isnan(x)) finite.push_back(x);
  }
  for (int64_t i = 0; i < d; ++i) {
    if (std::isnan(p[i])) continue;
    double best = 1.0;
    for (double pj : finite) {
      if (pj < p[i]) continue;
      const auto rank = std::count_if(finite.begin(), finite.end(), [&](double x) { return x <= pj; });
      best = std::min(best, pj * static_cast<double>(finite.size()) / static_cast<double>(rank));
    }
    q[i] = best;
  }
  ref.add("q_value", q);
  return ref;
}

double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return type7(v, q);
}

void check_same(const FeatureDriftStats& a, const FeatureDriftStats& b, double rel) {
  CHECK(a.n_tokens == b.n_tokens);
  CHECK(a.n_sequences == b.n_sequences);
  a.for_each_column([&](const FeatureDriftColumn& c, const Eigen::VectorXd& x) {
    const Eigen::VectorXd& y = b.*c.member;
    REQUIRE(x.size() == y.size());
    for (Eigen::Index f = 0; f < x.size(); ++f) {
      INFO(c.name << "[" << f << "]: " << x[f] << " vs " << y[f]);
      CHECK(close(x[f], y[f], rel, 0.0));
    }
  });
}

}  // namespace

TEST_CASE("every drift column matches a brute-force computation", "[drift]") {
  const int64_t d = 9;
  const PairedData data = make_data(7, d, 40, /*use_mask=*/true);
  const BootstrapOptions boot{60, 1234, 0.9};
  Eigen::VectorXd norms = Eigen::VectorXd::LinSpaced(d, 0.5, 2.0);
  PairedFeatureAccumulator acc(d, {}, boot);
  feed(acc, data, 0, data.n_sequences(), 3);
  const FeatureDriftStats s = acc.finish(&norms);
  const Reference ref = brute_force(data, boot, &norms);

  int64_t selected = 0;
  for (int64_t t = 0; t < data.n_tokens(); ++t) selected += data.selected(t);
  CHECK(s.n_tokens == selected);
  CHECK(acc.n_tokens() == selected);
  CHECK(s.n_sequences == 40);
  int64_t with_tokens = 0;
  for (int64_t q = 0; q < data.n_sequences(); ++q) {
    bool any = false;
    for (int64_t t = data.starts[q]; t < data.starts[q + 1]; ++t) any = any || data.selected(t);
    with_tokens += any;
  }
  CHECK(with_tokens < 40);  // sequence 3 (at least) is masked out entirely
  CHECK(acc.n_sequences_with_tokens() == with_tokens);
  for (size_t i = 0; i < ref.names.size(); ++i) check_column(s, ref.names[i], ref.columns[i]);

  // The planted special features, and that the random ones are not degenerate.
  CHECK(s.freq_base[0] == 0.0);
  CHECK(s.freq_aligned[0] == 0.0);
  CHECK(std::isnan(s.mean_active_base[0]));
  CHECK(std::isnan(s.p99_base[0]));
  CHECK(std::isnan(s.paired_corr[0]));
  CHECK(s.effect_size[0] == 0.0);
  CHECK(s.p_value[0] == 1.0);
  CHECK(s.freq_base[1] == 0.0);
  CHECK(s.freq_aligned[1] > 0.0);
  CHECK(std::isnan(s.rel_delta_mean[1]));
  CHECK(s.freq_aligned[2] == 0.0);
  CHECK(s.on_off_rate[2] == s.freq_base[2]);
  for (int64_t f = 3; f < d; ++f) {
    CHECK(s.paired_corr[f] > 0.0);
    CHECK(s.ci_low[f] < s.ci_high[f]);
  }

  // p99 from the histograms: within one bin ratio of the exact 99th percentile of active values.
  const double rho = acc.histograms_base().bins().bin_ratio();
  for (int64_t f = 0; f < d; ++f) {
    for (int which = 0; which < 2; ++which) {
      const auto& active = which == 0 ? ref.active_base[f] : ref.active_aligned[f];
      const double got = which == 0 ? s.p99_base[f] : s.p99_aligned[f];
      if (active.empty()) {
        CHECK(std::isnan(got));
        continue;
      }
      const double want = exact_quantile(active, 0.99);
      INFO("feature " << f << " model " << which << ": p99 " << got << " exact " << want);
      CHECK(got <= want * rho * (1 + 1e-12));
      CHECK(got >= want / rho / (1 + 1e-12));
    }
  }

  // Tags follow the rules on these columns.
  const auto tags = tag_features(s);
  CHECK(tags[0] == FeatureTag::Dead);
  CHECK(tags[1] == FeatureTag::Emerged);
  CHECK(tags[2] == FeatureTag::Vanished);
  for (int64_t f = 3; f < d; ++f) {
    const FeatureTag want =
        s.q_value[f] < 0.05 ? (s.effect_size[f] > 0 ? FeatureTag::Up : FeatureTag::Down) : FeatureTag::Unchanged;
    CHECK(tags[f] == want);
  }

  // Without decoder norms delta_write is NaN.
  CHECK(acc.finish(nullptr).delta_write.array().isNaN().all());
}

TEST_CASE("sparse rows (the scalar path over non-zero entries) match the brute-force computation", "[drift]") {
  const int64_t d = 64;
  const PairedData data = make_data(17, d, 30, true, /*shift_feature=*/5, false, /*rate_scale=*/0.1);
  int64_t sparse_rows = 0;
  for (int64_t t = 0; t < data.n_tokens(); ++t) {
    int64_t nonzero = 0;
    for (int64_t f = 0; f < d; ++f) nonzero += data.base[t * d + f] != 0 || data.aligned[t * d + f] != 0;
    sparse_rows += nonzero * 8 < d;
  }
  CHECK(sparse_rows > data.n_tokens() / 2);
  const BootstrapOptions boot{40, 8, 0.95};
  const Eigen::VectorXd norms = Eigen::VectorXd::LinSpaced(d, 1.0, 3.0);
  PairedFeatureAccumulator acc(d, {}, boot);
  feed(acc, data, 0, data.n_sequences(), 5);
  const FeatureDriftStats s = acc.finish(&norms);
  const Reference ref = brute_force(data, boot, &norms);
  for (size_t i = 0; i < ref.names.size(); ++i) check_column(s, ref.names[i], ref.columns[i]);
  CHECK(s.max_base[0] == 0.0);  // never active, yet tokens exist: max 0, not NaN or -inf
  CHECK(s.max_aligned[2] == 0.0);
}

TEST_CASE("SequenceEffectAccumulator on its own reads the batch like the paired accumulator", "[drift]") {
  const PairedData data = make_data(11, 6, 25, true);
  const BootstrapOptions boot{40, 5, 0.95};
  SequenceEffectAccumulator seq(6, boot);
  PairedFeatureAccumulator paired(6, {}, boot);
  for (int64_t s = 0; s < data.n_sequences(); s += 4) {
    seq.add(data.batch(s, std::min(data.n_sequences(), s + 4)));
    paired.add(data.batch(s, std::min(data.n_sequences(), s + 4)));
  }
  const SequenceEffects e = seq.finish();
  const FeatureDriftStats s = paired.finish(nullptr);
  CHECK(seq.n_sequences() == 25);
  CHECK(seq.n_sequences_with_tokens() == paired.n_sequences_with_tokens());
  CHECK(seq.n_sequences_with_tokens() < 25);
  for (int64_t f = 0; f < 6; ++f) {
    CHECK(close(e.effect_size[f], s.effect_size[f], 1e-12, 0.0));
    CHECK(close(e.p_value[f], s.p_value[f], 1e-12, 0.0));
    CHECK(close(e.ci_low[f], s.ci_low[f], 1e-12, 0.0));
    CHECK(close(e.ci_high[f], s.ci_high[f], 1e-12, 0.0));
  }
}

TEST_CASE("merging accumulators of two halves equals accumulating the whole", "[drift]") {
  const int64_t d = 8;
  const PairedData data = make_data(21, d, 50, true, /*shift_feature=*/4);
  const BootstrapOptions boot{50, 99, 0.95};
  const Eigen::VectorXd norms = Eigen::VectorXd::Constant(d, 1.5);
  PairedFeatureAccumulator whole(d, {}, boot);
  feed(whole, data, 0, data.n_sequences(), 50);
  const FeatureDriftStats w = whole.finish(&norms);

  SECTION("first and second half") {
    PairedFeatureAccumulator first(d, {}, boot), second(d, {}, boot);
    feed(first, data, 0, 20, 4);
    feed(second, data, 20, data.n_sequences(), 7);
    first.merge(second);
    check_same(first.finish(&norms), w, 1e-9);
    // Integer statistics merge exactly.
    CHECK(first.n_tokens() == whole.n_tokens());
    CHECK(same(first.finish(&norms).freq_base, w.freq_base));
    CHECK(same(first.finish(&norms).on_off_rate, w.on_off_rate));
    CHECK(same(first.finish(&norms).max_aligned, w.max_aligned));
    CHECK(same(first.finish(&norms).p99_aligned, w.p99_aligned));
  }
  SECTION("second half merged into the first, in the other order, and with an empty accumulator") {
    PairedFeatureAccumulator first(d, {}, boot), second(d, {}, boot), empty(d, {}, boot);
    feed(first, data, 0, 31, 31);
    feed(second, data, 31, data.n_sequences(), 2);
    second.merge(first);
    second.merge(empty);
    empty.merge(second);
    check_same(second.finish(&norms), w, 1e-9);
    check_same(empty.finish(&norms), w, 1e-9);
  }
}

TEST_CASE("the bootstrap is deterministic for a seed and independent of batch splitting", "[drift]") {
  const int64_t d = 6;
  const PairedData data = make_data(3, d, 30, false);
  const BootstrapOptions boot{80, 42, 0.95};
  const auto run = [&](int64_t per_batch, BootstrapOptions options) {
    PairedFeatureAccumulator acc(d, {}, options);
    feed(acc, data, 0, data.n_sequences(), per_batch);
    return acc.finish(nullptr);
  };
  const FeatureDriftStats a = run(1, boot), b = run(1, boot), c = run(7, boot), e = run(30, boot);
  // The same sequences in the same order give bit-identical sums whatever the batch boundaries.
  CHECK(same(a.ci_low, b.ci_low));
  CHECK(same(a.ci_high, b.ci_high));
  CHECK(same(a.ci_low, c.ci_low));
  CHECK(same(a.ci_high, c.ci_high));
  CHECK(same(a.ci_low, e.ci_low));
  CHECK(same(a.ci_high, e.ci_high));
  CHECK(same(a.effect_size, e.effect_size));
  // Another seed gives another interval; replicates = 0 gives none.
  BootstrapOptions other = boot;
  other.seed = 43;
  const FeatureDriftStats o = run(5, other);
  CHECK(!same(o.ci_low, a.ci_low));
  CHECK(same(o.effect_size, a.effect_size));
  BootstrapOptions none = boot;
  none.replicates = 0;
  const FeatureDriftStats z = run(5, none);
  CHECK(z.ci_low.array().isNaN().all());
  CHECK(z.ci_high.array().isNaN().all());
  CHECK(same(z.p_value, a.p_value));

  // The weights themselves: a pure function of (seed, sequence, replicate) with Poisson(1) moments.
  CHECK(poisson_bootstrap_weight(1, 17, 3) == poisson_bootstrap_weight(1, 17, 3));
  Eigen::VectorXd w(10);
  poisson_bootstrap_weights(1, 17, w);
  for (int r = 0; r < 10; ++r) CHECK(w[r] == poisson_bootstrap_weight(1, 17, r));
  double sum = 0, sum_sq = 0, zeros = 0, differs = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = poisson_bootstrap_weight(9, i / 100, i % 100);
    sum += x;
    sum_sq += x * x;
    zeros += x == 0;
    differs += x != poisson_bootstrap_weight(10, i / 100, i % 100);
  }
  const double mean = sum / n, var = sum_sq / n - mean * mean;
  CHECK(mean == Approx(1.0).margin(0.01));
  CHECK(var == Approx(1.0).margin(0.02));
  CHECK(zeros / n == Approx(std::exp(-1.0)).margin(0.005));
  CHECK(differs / n > 0.5);  // seeds 9 and 10 are unrelated streams
}

TEST_CASE("identical models: every delta is exactly 0, p = 1 and no feature is up or down", "[drift]") {
  const int64_t d = 7;
  const PairedData data = make_data(5, d, 30, true, -1, /*identical=*/true);
  PairedFeatureAccumulator acc(d, {}, {50, 1, 0.95});
  feed(acc, data, 0, data.n_sequences(), 4);
  const Eigen::VectorXd norms = Eigen::VectorXd::Ones(d);
  const FeatureDriftStats s = acc.finish(&norms);
  CHECK((s.delta_mean.array() == 0.0).all());
  CHECK((s.delta_write.array() == 0.0).all());
  CHECK((s.dlog10_freq.array() == 0.0).all());
  CHECK((s.mean_abs_paired_diff.array() == 0.0).all());
  CHECK((s.on_off_rate.array() == 0.0).all());
  CHECK((s.off_on_rate.array() == 0.0).all());
  CHECK((s.effect_size.array() == 0.0).all());
  CHECK((s.ci_low.array() == 0.0).all());
  CHECK((s.ci_high.array() == 0.0).all());
  CHECK((s.p_value.array() == 1.0).all());
  CHECK((s.q_value.array() == 1.0).all());
  CHECK(same(s.max_base, s.max_aligned));
  CHECK(same(s.p99_base, s.p99_aligned));
  for (int64_t f = 0; f < d; ++f) {
    CHECK(((s.delta_mean_active[f] == 0.0) || (f <= 2 && std::isnan(s.delta_mean_active[f]))));
    if (!std::isnan(s.paired_corr[f])) CHECK(s.paired_corr[f] == Approx(1.0).epsilon(1e-12));
  }
  for (FeatureTag t : tag_features(s)) {
    CHECK(t != FeatureTag::Up);
    CHECK(t != FeatureTag::Down);
  }
  // With aligned == base, features 1 and 2 are dead under both.
  CHECK(tag_features(s)[1] == FeatureTag::Dead);
}

TEST_CASE("a planted shift in one feature is significant and has the largest effect", "[drift]") {
  const int64_t d = 16, planted = 9;
  const PairedData data = make_data(77, d, 120, true, planted);
  PairedFeatureAccumulator acc(d, {}, {100, 3, 0.95});
  feed(acc, data, 0, data.n_sequences(), 10);
  const FeatureDriftStats s = acc.finish(nullptr);
  CHECK(s.q_value[planted] < 0.01);
  CHECK(s.effect_size[planted] > 0.0);
  CHECK(s.ci_low[planted] > 0.0);
  Eigen::Index best = -1;
  s.effect_size.cwiseAbs().maxCoeff(&best);
  CHECK(best == planted);
  CHECK(tag_features(s)[planted] == FeatureTag::Up);
}

TEST_CASE("a constant per-sequence shift gives an infinite effect and p = 0", "[drift]") {
  SequenceEffectAccumulator acc(2, {20, 0, 0.95});
  Eigen::VectorXd diff(2);
  for (int s = 0; s < 10; ++s) {
    diff << 0.5 * 3, 0.0;  // three tokens, each +0.5 on feature 0, nothing on feature 1
    acc.add_sequence(s, 3, diff);
  }
  const SequenceEffects e = acc.finish();
  CHECK(e.effect_size[0] == kInf);
  CHECK(e.p_value[0] == 0.0);
  CHECK(e.ci_low[0] == kInf);
  CHECK(e.effect_size[1] == 0.0);
  CHECK(e.p_value[1] == 1.0);

  SequenceEffectAccumulator one(2, {});
  one.add_sequence(0, 2, diff);
  CHECK(one.finish().effect_size.array().isNaN().all());
  CHECK(one.finish().p_value.array().isNaN().all());
  CHECK(one.finish().ci_low.array().isNaN().all());
}

TEST_CASE("Benjamini-Hochberg q-values", "[drift]") {
  // Hand-checked: m = 5 (the NaN is excluded); sorted p 0.005 0.01 0.03 0.04 0.5 give m p / rank
  // 0.025 0.025 0.05 0.05 0.5, already monotone.
  Eigen::VectorXd p(6);
  p << 0.01, 0.04, 0.03, 0.005, kNaN, 0.5;
  const Eigen::VectorXd q = benjamini_hochberg(p);
  CHECK(q[0] == Approx(0.025));
  CHECK(q[1] == Approx(0.05));
  CHECK(q[2] == Approx(0.05));
  CHECK(q[3] == Approx(0.025));
  CHECK(std::isnan(q[4]));
  CHECK(q[5] == Approx(0.5));
  // The step-up minimum matters: m p / rank = 0.04, 0.03 -> both 0.03.
  Eigen::VectorXd p2(2);
  p2 << 0.02, 0.03;
  const Eigen::VectorXd q2 = benjamini_hochberg(p2);
  CHECK(q2[0] == Approx(0.03));
  CHECK(q2[1] == Approx(0.03));

  // Properties on random p-values: p <= q <= 1, and q is monotone in p.
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::VectorXd r(200);
  for (Eigen::Index i = 0; i < r.size(); ++i) r[i] = std::pow(u(rng), 3.0);
  const Eigen::VectorXd qr = benjamini_hochberg(r);
  for (Eigen::Index i = 0; i < r.size(); ++i) {
    CHECK(qr[i] >= r[i]);
    CHECK(qr[i] <= 1.0);
    for (Eigen::Index j = 0; j < r.size(); ++j) {
      if (r[i] < r[j] && !(qr[i] <= qr[j])) FAIL("q not monotone at " << i << ", " << j);
    }
  }
  CHECK(benjamini_hochberg(Eigen::VectorXd()).size() == 0);
  Eigen::VectorXd bad(2);
  bad << 0.5, 1.5;
  CHECK_THROWS_AS(benjamini_hochberg(bad), InputError);
}

TEST_CASE("Student t p-values match scipy and closed forms", "[drift]") {
  // scipy.stats: 2 * t.sf(t, df).
  struct Case {
    double t, df, p;
  };
  const std::vector<Case> cases = {
      {2.0, 10, 0.07338803477074037},  {1.0, 1, 0.5},
      {3.0, 5, 0.030099247897462586},  {0.5, 3, 0.651447964848151},
      {2.5, 30, 0.01811564906806669},  {4.0, 100, 0.00012152364430076177},
      {1.7, 7.5, 0.13006609835733704}, {10.0, 2, 0.00985245702332569},
      {0.1, 1000, 0.9203643690236041}, {3.3, 12345, 0.000969588088313828},
  };
  for (const Case& c : cases) {
    INFO("t " << c.t << " df " << c.df);
    CHECK(student_t_two_sided_p(c.t, c.df) == Approx(c.p).epsilon(1e-10));
    CHECK(student_t_two_sided_p(-c.t, c.df) == Approx(c.p).epsilon(1e-10));
    CHECK(student_t_cdf(-c.t, c.df) == Approx(c.p / 2).epsilon(1e-10));
    CHECK(student_t_cdf(c.t, c.df) == Approx(1 - c.p / 2).epsilon(1e-10));
  }
  // Closed forms: df = 1 (Cauchy) p = 1 - 2 atan|t| / pi; df = 2, p = 1 - |t| / sqrt(t^2 + 2).
  for (double t : {0.0, 0.01, 0.3, 1.0, 2.7, 15.0, 400.0}) {
    CHECK(student_t_two_sided_p(t, 1) == Approx(1 - 2 * std::atan(t) / M_PI).epsilon(1e-12).margin(1e-15));
    CHECK(student_t_two_sided_p(t, 2) == Approx(1 - t / std::sqrt(t * t + 2)).epsilon(1e-12).margin(1e-15));
  }
  CHECK(student_t_two_sided_p(0.0, 7) == 1.0);
  CHECK(student_t_two_sided_p(kInf, 7) == 0.0);
  CHECK(std::isnan(student_t_two_sided_p(kNaN, 7)));
  CHECK_THROWS_AS(student_t_two_sided_p(1.0, 0.0), InputError);

  // The incomplete beta itself: scipy.special.betainc and identities.
  CHECK(regularized_incomplete_beta(2.5, 0.5, 0.3) == Approx(0.018927124071945658).epsilon(1e-12));
  CHECK(regularized_incomplete_beta(10, 20, 0.4) == Approx(0.7853183897628262).epsilon(1e-12));
  CHECK(regularized_incomplete_beta(0.5, 0.5, 0.9) == Approx(0.7951672353008665).epsilon(1e-12));
  for (double x : {0.0, 0.1, 0.5, 0.77, 1.0}) {
    CHECK(regularized_incomplete_beta(1, 1, x) == Approx(x).margin(1e-15));
    CHECK(regularized_incomplete_beta(3, 1, x) == Approx(x * x * x).margin(1e-15));
    CHECK(regularized_incomplete_beta(1, 4, x) == Approx(1 - std::pow(1 - x, 4)).margin(1e-15));
  }
  CHECK_THROWS_AS(regularized_incomplete_beta(-1, 1, 0.5), InputError);
  CHECK_THROWS_AS(regularized_incomplete_beta(1, 1, 1.5), InputError);
}

TEST_CASE("log histogram edges and quantiles within one bin ratio", "[drift]") {
  const LogHistogram bins{};
  CHECK(bins.n_bins() == 200);
  CHECK(bins.edges().front() == 1e-6);
  CHECK(bins.edges().back() == Approx(1e4).epsilon(1e-12));
  CHECK(bins.bin_ratio() == Approx(std::pow(10.0, 0.05)));
  for (int64_t i = 0; i < bins.n_bins(); ++i) {
    CHECK(bins.edges()[i + 1] / bins.edges()[i] == Approx(bins.bin_ratio()).epsilon(1e-12));
    CHECK(bins.bin_of(bins.edges()[i]) == i);
    CHECK(bins.bin_of(std::nextafter(bins.edges()[i + 1], 0.0)) == i);
  }
  CHECK(bins.bin_of(1e-12) == 0);
  CHECK(bins.bin_of(1e9) == 199);
  CHECK(LogHistogram({1.0, 1000.0, 3}).n_bins() == 9);

  // Random values over several decades, 3 features with different spreads.
  std::mt19937 rng(4);
  FeatureHistograms h(3, {});
  std::vector<std::vector<double>> values(3);
  for (int i = 0; i < 3000; ++i) {
    for (int f = 0; f < 3; ++f) {
      const double v = lognormal(rng, -1.0, 0.5 + f);
      h.add(f, v);
      values[f].push_back(v);
    }
  }
  h.add(0, 0.0);  // not active: not counted
  h.add(0, -1.0);
  CHECK(h.n_active(0) == 3000);
  for (int f = 0; f < 3; ++f) {
    CHECK(h.min_active(f) == *std::min_element(values[f].begin(), values[f].end()));
    CHECK(h.max_active(f) == *std::max_element(values[f].begin(), values[f].end()));
    CHECK(h.quantile(f, 0.0) == h.min_active(f));
    CHECK(h.quantile(f, 1.0) == h.max_active(f));
    for (double q : {0.001, 0.01, 0.1, 0.25, 0.5, 0.73, 0.9, 0.99, 0.999}) {
      const double exact = exact_quantile(values[f], q), est = h.quantile(f, q);
      INFO("feature " << f << " q " << q << ": " << est << " vs exact " << exact);
      CHECK(est <= exact * bins.bin_ratio() * (1 + 1e-12));
      CHECK(est >= exact / bins.bin_ratio() / (1 + 1e-12));
    }
  }
  // Merge adds counts.
  FeatureHistograms h2(3, {});
  h2.add(1, 5.0);
  h2.merge(h);
  CHECK(h2.n_active(1) == 3001);
  CHECK(h2.max_active(1) == std::max(5.0, h.max_active(1)));
  CHECK(std::isnan(FeatureHistograms(2).quantile(1, 0.5)));
  CHECK(std::isnan(FeatureHistograms(2).max_active(1)));
}

TEST_CASE("scalar summary: moments, extremes, quantiles and merge", "[drift]") {
  std::mt19937 rng(8);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> xs;
  for (int i = 0; i < 5000; ++i) {
    // KL-like: mostly small positive over decades, some exact zeros, a few tiny negatives.
    double x = std::exp(2.0 * normal(rng) - 5.0);
    if (i % 50 == 0) x = 0.0;
    if (i % 97 == 0) x = -1e-6 * std::exp(normal(rng));
    xs.push_back(x);
  }
  ScalarSummary all, first, second;
  all.add(xs.data(), static_cast<int64_t>(xs.size()));
  first.add(xs.data(), 2000);
  second.add(xs.data() + 2000, static_cast<int64_t>(xs.size()) - 2000);
  first.merge(second);

  long double mean = 0, ss = 0;
  for (double x : xs) mean += x;
  mean /= xs.size();
  for (double x : xs) ss += (x - mean) * (x - mean);
  const double sd = static_cast<double>(std::sqrt(ss / (xs.size() - 1)));
  for (const ScalarSummary* s : {&all, &first}) {
    CHECK(s->count() == 5000);
    CHECK(close(s->mean(), static_cast<double>(mean), 1e-12, 0));
    CHECK(close(s->sd(), sd, 1e-12, 0));
    CHECK(s->min() == *std::min_element(xs.begin(), xs.end()));
    CHECK(s->max() == *std::max_element(xs.begin(), xs.end()));
    CHECK(s->quantile(0.0) == s->min());
    CHECK(s->quantile(1.0) == s->max());
  }
  std::vector<double> sorted = xs;
  std::sort(sorted.begin(), sorted.end());
  const double rho = all.bins().bin_ratio();
  for (double q : {0.001, 0.005, 0.01, 0.02, 0.25, 0.5, 0.75, 0.95, 0.99}) {
    // Type 7 between order statistics x_k and x_k+1: the error is at most (rho - 1) max(|x_k|, |x_k+1|).
    const double r = q * (sorted.size() - 1);
    const auto k = static_cast<size_t>(std::floor(r));
    const double bound =
        (rho - 1) * std::max(std::fabs(sorted[k]), std::fabs(sorted[std::min(k + 1, sorted.size() - 1)]));
    INFO("q " << q << ": " << all.quantile(q) << " vs exact " << type7(sorted, q));
    CHECK(std::fabs(all.quantile(q) - type7(sorted, q)) <= bound * (1 + 1e-12) + 1e-300);
    CHECK(first.quantile(q) == all.quantile(q));  // the same counts
  }
  const auto qs = all.quantiles();
  CHECK(qs.p25 == all.quantile(0.25));
  CHECK(qs.p99 == all.quantile(0.99));
  CHECK(qs.p50 <= qs.p75);

  const ScalarSummary empty;
  CHECK(empty.count() == 0);
  CHECK(std::isnan(empty.mean()));
  CHECK(std::isnan(empty.quantile(0.5)));
  CHECK_THROWS_AS(ScalarSummary().add(kNaN), InputError);
  CHECK_THROWS_AS(all.quantile(-0.1), InputError);
  CHECK_THROWS_AS(all.merge(ScalarSummary({1e-3, 1.0, 10})), InputError);
}

TEST_CASE("the column table describes every column", "[drift]") {
  const auto names = FeatureDriftStats::column_names();
  const std::vector<std::string_view> expected = {"freq_base",
                                                  "freq_aligned",
                                                  "log10_freq_base",
                                                  "log10_freq_aligned",
                                                  "dlog10_freq",
                                                  "mean_base",
                                                  "mean_aligned",
                                                  "delta_mean",
                                                  "mean_active_base",
                                                  "mean_active_aligned",
                                                  "delta_mean_active",
                                                  "max_base",
                                                  "max_aligned",
                                                  "p99_base",
                                                  "p99_aligned",
                                                  "rel_delta_mean",
                                                  "delta_write",
                                                  "mean_abs_paired_diff",
                                                  "paired_corr",
                                                  "on_off_rate",
                                                  "off_on_rate",
                                                  "effect_size",
                                                  "ci_low",
                                                  "ci_high",
                                                  "p_value",
                                                  "q_value",
                                                  "n_sequences_with_tokens"};
  CHECK(names == expected);
  std::vector<Eigen::VectorXd FeatureDriftStats::*> members;
  for (const FeatureDriftColumn& c : FeatureDriftStats::columns()) {
    CHECK(c.description.size() > 20);
    CHECK(!c.formula.empty());
    CHECK(!c.units.empty());
    // Pointers to members have no order; check by equality that none is listed twice.
    CHECK(std::find(members.begin(), members.end(), c.member) == members.end());
    members.push_back(c.member);
  }

  const PairedData data = make_data(2, 5, 6, false);
  PairedFeatureAccumulator acc(5);
  acc.add(data.batch(0, 6));
  const FeatureDriftStats s = acc.finish(nullptr);
  int visited = 0;
  s.for_each_column([&](const FeatureDriftColumn& c, const Eigen::VectorXd& v) {
    CHECK(v.size() == 5);
    CHECK(&v == &s.column(c.name));
    ++visited;
  });
  CHECK(visited == static_cast<int>(expected.size()));
  CHECK_THROWS_AS(s.column("nope"), InputError);

  CHECK(feature_tag_names() == std::vector<std::string_view>{"up", "down", "emerged", "vanished", "unchanged", "dead"});
  CHECK(feature_tag_name(FeatureTag::Vanished) == "vanished");
  CHECK(static_cast<int>(FeatureTag::Dead) == 5);
  CHECK(tag_feature(0, 0, kNaN, kNaN) == FeatureTag::Dead);
  CHECK(tag_feature(kNaN, kNaN, kNaN, kNaN) == FeatureTag::Dead);
  CHECK(tag_feature(0, 0.1, 0.001, 2) == FeatureTag::Emerged);
  CHECK(tag_feature(0.1, 0, 0.001, -2) == FeatureTag::Vanished);
  CHECK(tag_feature(0.1, 0.2, 0.01, 0.5) == FeatureTag::Up);
  CHECK(tag_feature(0.1, 0.2, 0.01, -0.5) == FeatureTag::Down);
  CHECK(tag_feature(0.1, 0.2, 0.06, 0.5) == FeatureTag::Unchanged);
  CHECK(tag_feature(0.1, 0.2, 0.06, 0.5, 0.1) == FeatureTag::Up);
  CHECK(tag_feature(0.1, 0.2, kNaN, 0.5) == FeatureTag::Unchanged);
  CHECK_THROWS_AS(tag_features(s, 0.0), InputError);
}

TEST_CASE("bad input is an InputError and leaves the accumulator unchanged", "[drift]") {
  const PairedData data = make_data(13, 4, 6, false);
  PairedFeatureAccumulator acc(4, {}, {10, 0, 0.95});
  acc.add(data.batch(0, 2));
  const int64_t tokens = acc.n_tokens();
  const auto unchanged = [&] {
    CHECK(acc.n_tokens() == tokens);
    CHECK(acc.n_sequences() == 2);
  };

  ActivationBatch b = data.batch(2, 4);
  b.d_sae = 5;
  CHECK_THROWS_WITH(acc.add(b), Catch::Contains("d_sae is 5") && Catch::Contains("d_sae 4"));
  b = data.batch(2, 4);
  b.aligned = nullptr;
  CHECK_THROWS_AS(acc.add(b), InputError);
  b = data.batch(2, 4);
  b.sequence_ids = nullptr;
  CHECK_THROWS_AS(acc.add(b), InputError);
  b = data.batch(2, 4);
  b.n_tokens = -1;
  CHECK_THROWS_AS(acc.add(b), InputError);
  // A sequence split across two batches.
  CHECK_THROWS_WITH(acc.add(data.batch(1, 3)), Catch::Contains("continues from the previous batch"));
  // Non-contiguous sequence ids: sequences 2, 3 and then 2 again in place of 4.
  std::vector<int64_t> ids(data.sequence_ids.begin() + data.starts[2], data.sequence_ids.begin() + data.starts[5]);
  std::fill(ids.begin() + (data.starts[4] - data.starts[2]), ids.end(), ids.front());
  b = data.batch(2, 5);
  b.sequence_ids = ids.data();
  CHECK_THROWS_WITH(acc.add(b), Catch::Contains("reappears"));
  // Negative and NaN activations, named by token, feature and model.
  std::vector<float> bad(data.aligned.begin() + data.starts[2] * 4, data.aligned.begin() + data.starts[4] * 4);
  bad[4 * 1 + 2] = -0.5f;
  b = data.batch(2, 4);
  b.aligned = bad.data();
  CHECK_THROWS_WITH(acc.add(b), Catch::Contains("aligned activation at token 1, feature 2"));
  bad[4 * 1 + 2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(acc.add(b), InputError);
  // ... but an unselected bad token is never read.
  std::vector<uint8_t> mask(static_cast<size_t>(b.n_tokens), 1);
  mask[1] = 0;
  b.mask = mask.data();
  unchanged();
  CHECK_NOTHROW(acc.add(b));
  CHECK(acc.n_sequences() == 4);

  // Merge and finish arguments.
  CHECK_THROWS_AS(acc.merge(PairedFeatureAccumulator(5, {}, {10, 0, 0.95})), InputError);
  CHECK_THROWS_AS(acc.merge(PairedFeatureAccumulator(4, {1e-5, 1e4, 20}, {10, 0, 0.95})), InputError);
  CHECK_THROWS_AS(acc.merge(PairedFeatureAccumulator(4, {}, {10, 1, 0.95})), InputError);
  const Eigen::VectorXd norms = Eigen::VectorXd::Ones(3);
  CHECK_THROWS_WITH(acc.finish(&norms), Catch::Contains("3 decoder norms") && Catch::Contains("d_sae 4"));

  // Construction.
  CHECK_THROWS_AS(PairedFeatureAccumulator(0), InputError);
  CHECK_THROWS_AS(PairedFeatureAccumulator(4, {1.0, 0.5, 20}), InputError);
  CHECK_THROWS_AS(PairedFeatureAccumulator(4, {1e-6, 1e4, 0}), InputError);
  CHECK_THROWS_AS(PairedFeatureAccumulator(4, {}, {-1, 0, 0.95}), InputError);
  CHECK_THROWS_AS(PairedFeatureAccumulator(4, {}, {10, 0, 1.0}), InputError);
  CHECK_THROWS_AS(FeatureHistograms(4).add(4, 1.0), InputError);
  CHECK_THROWS_AS(FeatureHistograms(4).add(0, kInf), InputError);
  CHECK_THROWS_AS(FeatureHistograms(4).quantile(0, 1.5), InputError);
  Eigen::VectorXd short_diff(3);
  CHECK_THROWS_AS(SequenceEffectAccumulator(4).add_sequence(0, 1, short_diff), InputError);

  // An empty accumulator finishes to NaN columns, not zeros.
  const FeatureDriftStats empty = PairedFeatureAccumulator(3).finish(nullptr);
  CHECK(empty.n_tokens == 0);
  CHECK(empty.freq_base.array().isNaN().all());
  CHECK(empty.max_base.array().isNaN().all());
  CHECK(empty.effect_size.array().isNaN().all());
  CHECK(empty.q_value.array().isNaN().all());
}
