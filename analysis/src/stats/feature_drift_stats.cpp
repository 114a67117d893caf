#include "fpokit/analysis/stats/feature_drift_stats.h"

#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

// Notation: a_b(t), a_a(t) are feature f's activations at selected token t under the base and the
// aligned model; N the number of selected tokens; "active" means a > 0; d_s the mean over
// sequence s's selected tokens of a_a - a_b.
const std::vector<FeatureDriftColumn>& FeatureDriftStats::columns() {
  using S = FeatureDriftStats;
  static const std::vector<FeatureDriftColumn> table = {
      {"freq_base", "Firing frequency under the base model: fraction of selected tokens where the feature is active",
       "#{t : a_b(t) > 0} / N", "1", &S::freq_base},
      {"freq_aligned", "Firing frequency under the aligned model", "#{t : a_a(t) > 0} / N", "1", &S::freq_aligned},
      {"log10_freq_base", "log10 of the base firing frequency; the 1e-10 floor keeps dead features finite (< -6: dead)",
       "log10(freq_base + 1e-10)", "log10 fraction", &S::log10_freq_base},
      {"log10_freq_aligned", "log10 of the aligned firing frequency, floored as log10_freq_base",
       "log10(freq_aligned + 1e-10)", "log10 fraction", &S::log10_freq_aligned},
      {"dlog10_freq", "Change of firing frequency in decades; the floor keeps it finite for rare features",
       "log10((freq_aligned + 1e-10) / (freq_base + 1e-10))", "log10 fraction", &S::dlog10_freq},
      {"mean_base", "Mean activation under the base model over all selected tokens, zeros included", "sum_t a_b(t) / N",
       "activation", &S::mean_base},
      {"mean_aligned", "Mean activation under the aligned model over all selected tokens, zeros included",
       "sum_t a_a(t) / N", "activation", &S::mean_aligned},
      {"delta_mean", "Change of the mean activation (aligned - base)", "mean_aligned - mean_base", "activation",
       &S::delta_mean},
      {"mean_active_base", "Mean base activation over the tokens where it is active; NaN when never active",
       "sum_t a_b(t) / #{t : a_b(t) > 0}", "activation", &S::mean_active_base},
      {"mean_active_aligned", "Mean aligned activation over the tokens where it is active; NaN when never active",
       "sum_t a_a(t) / #{t : a_a(t) > 0}", "activation", &S::mean_active_aligned},
      {"delta_mean_active",
       "Change of the mean active activation: 'fires harder' as opposed to 'fires more often' (dlog10_freq)",
       "mean_active_aligned - mean_active_base", "activation", &S::delta_mean_active},
      {"max_base", "Largest base activation over the selected tokens", "max_t a_b(t)", "activation", &S::max_base},
      {"max_aligned", "Largest aligned activation over the selected tokens", "max_t a_a(t)", "activation",
       &S::max_aligned},
      {"p99_base",
       "99th percentile of the active base activations, from a log histogram (within one bin ratio, "
       "10^(1/bins_per_decade), of the exact value); NaN when never active",
       "quantile_0.99{a_b(t) : a_b(t) > 0}", "activation", &S::p99_base},
      {"p99_aligned", "99th percentile of the active aligned activations, as p99_base",
       "quantile_0.99{a_a(t) : a_a(t) > 0}", "activation", &S::p99_aligned},
      {"rel_delta_mean", "Change of the mean relative to the base maximum: a scale-free ranking; NaN when max_base = 0",
       "delta_mean / max_base", "1", &S::rel_delta_mean},
      {"delta_write",
       "Change of the norm the feature writes into the residual stream; comparable across features; NaN without "
       "decoder norms",
       "delta_mean * ||W_dec[f]||", "activation x decoder norm", &S::delta_write},
      {"mean_abs_paired_diff", "Mean absolute per-token change; large with a small delta_mean means re-routing",
       "sum_t |a_a(t) - a_b(t)| / N", "activation", &S::mean_abs_paired_diff},
      {"paired_corr",
       "Pearson correlation of the two models' activations over tokens ('same feature, same contexts?'); NaN when "
       "either variance is 0",
       "cov_t(a_b, a_a) / (sd_t(a_b) sd_t(a_a))", "1", &S::paired_corr},
      {"on_off_rate",
       "Fraction of selected tokens where the feature fires under the base model but not the aligned one",
       "#{t : a_b(t) > 0, a_a(t) = 0} / N", "1", &S::on_off_rate},
      {"off_on_rate",
       "Fraction of selected tokens where the feature fires under the aligned model but not the base one",
       "#{t : a_b(t) = 0, a_a(t) > 0} / N", "1", &S::off_on_rate},
      {"effect_size",
       "Paired Cohen's d_z over sequences (the unit of replication); +-inf when every d_s is the same non-zero value, "
       "0 "
       "when all are 0; NaN with fewer than 2 sequences",
       "mean_s(d_s) / sd_s(d_s), sd with n - 1", "1", &S::effect_size},
      {"ci_low", "Lower end of the percentile bootstrap interval of effect_size (Poisson weights over sequences)",
       "quantile_{(1-c)/2} of d_z over replicates", "1", &S::ci_low},
      {"ci_high", "Upper end of the percentile bootstrap interval of effect_size",
       "quantile_{(1+c)/2} of d_z over replicates", "1", &S::ci_high},
      {"p_value", "Two-sided paired t-test of d_s = 0 over sequences; 1 when all d_s are 0",
       "2 P(T_{n-1} > |d_z| sqrt(n)), n = n_sequences_with_tokens", "1", &S::p_value},
      {"q_value", "Benjamini-Hochberg adjusted p-value over the features with a p-value (false discovery rate)",
       "min_{j >= i} min(1, m p_(j) / j)", "1", &S::q_value},
      {"n_sequences_with_tokens", "Number of sequences with at least one selected token: the n of the paired test",
       "#{s : n_s > 0}", "sequences", &S::n_sequences_with_tokens},
  };
  return table;
}

std::vector<std::string_view> FeatureDriftStats::column_names() {
  std::vector<std::string_view> names;
  for (const FeatureDriftColumn& c : columns()) names.push_back(c.name);
  return names;
}

const Eigen::VectorXd& FeatureDriftStats::column(std::string_view name) const {
  for (const FeatureDriftColumn& c : columns()) {
    if (c.name == name) return this->*c.member;
  }
  throw InputError("feature drift stats: no column named '" + std::string(name) + "'");
}

}  // namespace fpokit::analysis::stats
