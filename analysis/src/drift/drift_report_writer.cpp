#include "fpokit/analysis/drift/drift_report_writer.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "fpokit/analysis/stats/feature_tags.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_dataframe.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "fpokit/core/io/output_location.h"

#ifndef FPOKIT_VERSION
#define FPOKIT_VERSION "unknown"
#endif
#ifndef FPOKIT_GIT_COMMIT
#define FPOKIT_GIT_COMMIT "unknown"
#endif

namespace fpokit::analysis {

namespace fs = std::filesystem;
namespace h5 = core::hdf5;

namespace {

std::vector<float> to_float(const Eigen::VectorXd& v) {
  std::vector<float> out(static_cast<size_t>(v.size()));
  for (int64_t i = 0; i < v.size(); ++i) out[static_cast<size_t>(i)] = static_cast<float>(v[i]);
  return out;
}

void column_attributes(hid_t dataset, std::string_view description, std::string_view formula, std::string_view units,
                       std::string_view split) {
  h5::write_string_attribute(dataset, "description", description);
  h5::write_string_attribute(dataset, "formula", formula);
  h5::write_string_attribute(dataset, "units", units);
  h5::write_string_attribute(dataset, "split", split);
}

// The per-feature table: core's dataframe (feature_id as the index) with every column described
// (description, formula, units, split).
class FeatureFrame {
 public:
  FeatureFrame(hid_t parent, const std::string& name, int64_t n, std::string split)
      : frame_(parent, name, n), split_(std::move(split)) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    auto d = frame_.set_index("feature_id", ids);
    column_attributes(d.get(), "SAE feature (latent) index", "row index", "1", split_);
  }
  void add(const std::string& name, const Eigen::VectorXd& v, std::string_view description, std::string_view formula,
           std::string_view units) {
    auto d = frame_.add_column(name, to_float(v));
    column_attributes(d.get(), description, formula, units, split_);
    h5::write_double_attribute(d.get(), "missing", std::nan(""));
  }
  void add_bool(const std::string& name, const std::vector<uint8_t>& v, std::string_view description) {
    auto d = frame_.add_bool_column(name, v);
    column_attributes(d.get(), description, "", "bool", split_);
  }
  void add_tags(const std::vector<uint8_t>& codes) {
    std::vector<std::string> names;
    for (const auto n : stats::feature_tag_names()) names.emplace_back(n);
    auto g = frame_.add_categorical_column("tag", std::vector<int8_t>(codes.begin(), codes.end()), names);
    h5::write_string_attribute(g.get(), "description",
                               "up/down: q < alpha and the effect's sign; emerged: never active under the base, active "
                               "under the aligned model; vanished: the reverse; dead: never active; else unchanged");
  }
  void finish() {
    frame_.finish();
    h5::write_string_attribute(frame_.get(), "split", split_);
  }
  hid_t get() const { return frame_.get(); }

 private:
  h5::DataFrameWriter frame_;
  std::string split_;
};

void write_stats_columns(FeatureFrame& frame, const SplitStats& s) {
  s.stats.for_each_column([&](const stats::FeatureDriftColumn& c, const Eigen::VectorXd& v) {
    frame.add(std::string(c.name), v, c.description, c.formula, c.units);
  });
  frame.add_tags(s.tags);
}

// A small dataframe of rows (one per model or split) with string `key` column and numeric columns.
void write_row_frame(hid_t parent, const std::string& name, const std::string& key,
                     const std::vector<std::string>& keys,
                     const std::vector<std::pair<std::string, std::vector<double>>>& columns,
                     const std::string& description) {
  h5::DataFrameWriter frame(parent, name, static_cast<int64_t>(keys.size()));
  frame.set_index(key, keys);
  for (const auto& [col, values] : columns) frame.add_column(col, values);
  frame.finish();
  h5::write_string_attribute(frame.get(), "description", description);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_fidelity(hid_t parent, const DriftResult& r) {
  std::vector<const SaeFidelity*> rows{&r.base_fidelity};
  for (const auto& a : r.aligned) rows.push_back(&a.fidelity);
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, std::vector<double>>> cols{
      {"tokens", {}},   {"l0", {}},         {"dead_fraction", {}}, {"reconstruction_tokens", {}},
      {"fvu", {}},      {"mse", {}},        {"cosine", {}},        {"ce_tokens", {}},
      {"ce_clean", {}}, {"ce_spliced", {}}, {"ce_zero", {}},       {"ce_recovered", {}}};
  for (const auto* f : rows) {
    keys.push_back(f->model);
    const double values[] = {static_cast<double>(f->tokens),
                             f->l0,
                             f->dead_fraction,
                             static_cast<double>(f->reconstruction_tokens),
                             f->fvu,
                             f->mse,
                             f->cosine,
                             static_cast<double>(f->ce_tokens),
                             f->ce_clean,
                             f->ce_spliced,
                             f->ce_zero,
                             f->ce_recovered};
    for (size_t c = 0; c < cols.size(); ++c) cols[c].second.push_back(values[c]);
  }
  write_row_frame(parent, "sae_fidelity", "model", keys, cols,
                  "How well the SAE reconstructs each model at the hook (fpokit sae eval's definitions): l0 and "
                  "dead_fraction on every analysed token; fvu, mse, cosine on the first reconstruction_tokens; CE "
                  "(next-token, nats) with the SAE spliced in or the activation zeroed on the first ce_tokens; "
                  "ce_recovered = (ce_zero - ce_spliced) / (ce_zero - ce_clean)");
}

// FPO runs: the drift of the features FPO constrained against the rest (drift can move to
// features FPO did not constrain).
void write_constrained_summary(hid_t parent, const AlignedDrift& a) {
  const auto& st = a.splits[0].stats;
  const auto& tags = a.splits[0].tags;
  std::vector<std::pair<std::string, std::vector<double>>> cols{{"n_features", {}},
                                                                {"mean_abs_delta_write", {}},
                                                                {"mean_abs_delta_mean", {}},
                                                                {"mean_abs_effect_size", {}},
                                                                {"n_up", {}},
                                                                {"n_down", {}},
                                                                {"share_of_abs_delta_write", {}}};
  double total_write = 0;
  for (int64_t f = 0; f < st.d_sae(); ++f)
    if (std::isfinite(st.delta_write[f])) total_write += std::abs(st.delta_write[f]);
  for (const int group : {1, 0}) {
    double n = 0, write = 0, mean = 0, effect = 0, n_effect = 0, up = 0, down = 0;
    for (int64_t f = 0; f < st.d_sae(); ++f) {
      if (a.constrained[static_cast<size_t>(f)] != group) continue;
      ++n;
      if (std::isfinite(st.delta_write[f])) write += std::abs(st.delta_write[f]);
      mean += std::abs(st.delta_mean[f]);
      if (std::isfinite(st.effect_size[f])) effect += std::abs(st.effect_size[f]), ++n_effect;
      up += tags[static_cast<size_t>(f)] == static_cast<uint8_t>(stats::FeatureTag::Up) ? 1 : 0;
      down += tags[static_cast<size_t>(f)] == static_cast<uint8_t>(stats::FeatureTag::Down) ? 1 : 0;
    }
    const double nan = std::nan("");
    const double values[] = {n,
                             n > 0 ? write / n : nan,
                             n > 0 ? mean / n : nan,
                             n_effect > 0 ? effect / n_effect : nan,
                             up,
                             down,
                             total_write > 0 ? write / total_write : nan};
    for (size_t c = 0; c < cols.size(); ++c) cols[c].second.push_back(values[c]);
  }
  write_row_frame(parent, "fpo_constrained_summary", "features", {"constrained", "unconstrained"}, cols,
                  "Drift of the features FPO's top-k ever selected (constrained) against the others, split all: "
                  "mean |delta_write|, |delta_mean| and finite |effect_size|, up/down tags, and each group's share "
                  "of the total |delta_write|");
}

void write_examples(hid_t parent, const AlignedDrift& a) {
  const auto& e = a.examples;
  const int64_t n = static_cast<int64_t>(e.features.size());
  auto g = h5::create_group(parent, "examples");
  h5::write_string_attribute(g.get(), "description",
                             "Max-activating contexts of the selected features (the union of the rankings' heads): "
                             "per feature the top examples under the aligned model (group 0) then under the base "
                             "(group 1); windows of token ids around the highlighted position (center), -1 outside "
                             "the sequence; act_* are the feature's activations over the window under each model");
  h5::write_int64_attribute(g.get(), "window", e.window);
  h5::write_int32_array(g.get(), "feature_id", {n}, e.features.data());
  h5::write_int8_array(g.get(), "group", {n, e.n_examples}, e.group.data());
  h5::write_int64_array(g.get(), "sequence", {n, e.n_examples}, e.sequence.data());
  h5::write_int32_array(g.get(), "center", {n, e.n_examples}, e.center.data());
  const h5::ArrayLayout one_feature_per_chunk{
      .compress = true, .gzip_level = 4, .chunk_bytes = std::max<int64_t>(1, e.n_examples * e.window * 4)};
  h5::write_int32_array(g.get(), "token_ids", {n, e.n_examples, e.window}, e.token_ids.data(), one_feature_per_chunk);
  h5::write_float_array(g.get(), "act_base", {n, e.n_examples, e.window}, e.act_base.data(), one_feature_per_chunk);
  h5::write_float_array(g.get(), "act_aligned", {n, e.n_examples, e.window}, e.act_aligned.data(),
                        one_feature_per_chunk);
}

void write_histograms(hid_t parent, const AlignedDrift& a, const std::vector<double>& edges) {
  const auto& e = a.examples;
  const int64_t n = static_cast<int64_t>(e.features.size());
  const int64_t n_bins = edges.empty() ? 0 : static_cast<int64_t>(edges.size()) - 1;
  auto g = h5::create_group(parent, "histograms");
  h5::write_string_attribute(g.get(), "description",
                             "Histograms of each selected feature's active (> 0) activations on the analysed tokens "
                             "(split all) under each model, on shared log-spaced bins: bin i is [bin_edges[i], "
                             "bin_edges[i+1])");
  h5::write_int32_array(g.get(), "feature_id", {n}, e.features.data());
  h5::write_double_array(g.get(), "bin_edges", {static_cast<int64_t>(edges.size())}, edges.data());
  h5::write_int64_array(g.get(), "counts_base", {n, n_bins}, e.hist_base.data());
  h5::write_int64_array(g.get(), "counts_aligned", {n, n_bins}, e.hist_aligned.data());
}

void write_logit_lens(hid_t parent, const AlignedDrift& a) {
  auto g = h5::create_group(parent, "logit_lens");
  h5::write_string_attribute(g.get(), "description",
                             "Decoder row of each selected feature through the final norm's weight and the "
                             "unembedding of each model: the k most promoted and most suppressed tokens");
  const int64_t n = static_cast<int64_t>(a.examples.features.size());
  h5::write_int32_array(g.get(), "feature_id", {n}, a.examples.features.data());
  for (const auto& [suffix, lens] : {std::pair<std::string, const LogitLensTable*>{"base", &a.lens_base},
                                     std::pair<std::string, const LogitLensTable*>{"aligned", &a.lens_aligned}}) {
    const int64_t k = lens->k;
    h5::write_int64_array(g.get(), "promoted_ids_" + suffix, {n, k}, lens->promoted_ids.data());
    h5::write_float_array(g.get(), "promoted_values_" + suffix, {n, k}, lens->promoted_values.data());
    h5::write_int64_array(g.get(), "suppressed_ids_" + suffix, {n, k}, lens->suppressed_ids.data());
    h5::write_float_array(g.get(), "suppressed_values_" + suffix, {n, k}, lens->suppressed_values.data());
  }
}

// The causal check (causal_check.h) as a dataframe indexed by feature_id.
void write_causal(hid_t parent, const std::string& name, const CausalResult& c, const DriftOptions& o) {
  const auto n = static_cast<int64_t>(c.features.size());
  h5::DataFrameWriter frame(parent, name, n);
  std::vector<int32_t> ids;
  std::vector<int8_t> kind;
  std::vector<std::string> rankings;
  for (const auto& f : c.features) {
    ids.push_back(f.feature);
    kind.push_back(f.control ? 1 : 0);
  }
  frame.set_index("feature_id", ids);
  frame.add_categorical_column("group", kind, {"top", "control"});
  auto column = [&](const char* col, double CausalFeature::*member, const char* description) {
    std::vector<double> v;
    for (const auto& f : c.features) v.push_back(f.*member);
    auto d = frame.add_column(col, v);
    h5::write_string_attribute(d.get(), "description", description);
  };
  column("attribution_aligned", &CausalFeature::attribution_aligned,
         "mean over pairs of sum over positions of activation x d(margin)/d(activation), aligned model");
  column("attribution_base", &CausalFeature::attribution_base, "the same under the base model");
  column("clamp_margin_change", &CausalFeature::clamp_margin_change,
         "aligned model with the feature clamped to its base activation: change of the mean reward margin");
  column("clamp_accuracy_change", &CausalFeature::clamp_accuracy_change,
         "the same: change of the reward accuracy (fraction of pairs with margin > 0)");
  column("clamp_kl", &CausalFeature::clamp_kl, "the same: KL(clamped || base) per response token, nats");
  column("clamp_kl_removed", &CausalFeature::clamp_kl_removed,
         "1 - clamp_kl / KL(aligned || base): the fraction of the aligned model's KL the clamp removes");
  column("add_margin_change", &CausalFeature::add_margin_change,
         "base model plus (mean_aligned - mean_base) x decoder row at every position: its mean reward margin");
  column("add_accuracy_change", &CausalFeature::add_accuracy_change, "the same: its reward accuracy");
  column("add_kl", &CausalFeature::add_kl, "the same: KL(base + shift || base) per response token, nats");
  frame.finish();
  const hid_t g = frame.get();
  h5::write_string_attribute(g, "description",
                             "Causal check of each ranking's first N features and N controls (active under both "
                             "models, unchanged): reward margin m = [log p(y_w|x) - log p(y_l|x)] - the base's, "
                             "completion log-probabilities summed; docs/drift.md, 'Causal check'");
  std::vector<std::string> r;
  for (const auto& f : c.features) r.push_back(f.rankings);
  h5::write_string_array(g, "rankings", r);
  h5::write_int64_attribute(g, "n", o.causal);
  h5::write_int64_attribute(g, "pairs", c.pairs);
  h5::write_int64_attribute(g, "response_tokens", c.response_tokens);
  h5::write_string_attribute(g, "data", (o.causal_data.empty() ? o.data : o.causal_data).string());
  h5::write_double_attribute(g, "margin_aligned", c.margin_aligned);
  h5::write_double_attribute(g, "accuracy_aligned", c.accuracy_aligned);
  h5::write_double_attribute(g, "kl_aligned", c.kl_aligned);
}

void write_model_attributes(hid_t group, const ModelSource& s, const std::string& hash) {
  h5::write_string_attribute(group, "path", s.path.string());
  h5::write_string_attribute(group, "kind", s.kind);
  h5::write_string_attribute(group, "weights", s.weights.string());
  h5::write_string_attribute(group, "sha256", hash);
  if (s.checkpoint_step) h5::write_int64_attribute(group, "checkpoint_step", *s.checkpoint_step);
  if (s.fpo_selection) {
    h5::write_string_attribute(group, "fpo_selection_file", s.fpo_selection->file.string());
    h5::write_int64_attribute(group, "fpo_top_k", s.fpo_selection->top_k);
    h5::write_string_attribute(group, "fpo_variant", s.fpo_selection->variant);
    h5::write_int64_attribute(group, "fpo_selections", s.fpo_selection->selections);
    h5::write_string_attribute(group, "fpo_sae", s.fpo_selection->sae);
    h5::write_string_attribute(group, "fpo_hook", s.fpo_selection->hook);
  }
}

void write_report(const DriftResult& r, const fs::path& path) {
  const auto failed_closes_at_start = h5::failed_closes();
  auto file = h5::create_file(path);
  const hid_t root = file.get();
  const bool several = r.aligned.size() > 1;
  h5::write_string_attribute(root, "schema", kDriftSchema);
  h5::write_string_attribute(root, "schema_version", kDriftSchemaVersion);
  h5::write_string_attribute(root, "tool", "fpokit");
  h5::write_string_attribute(root, "fpokit_version", FPOKIT_VERSION);
  h5::write_string_attribute(root, "git_commit", FPOKIT_GIT_COMMIT);
  h5::write_string_attribute(root, "created_utc", utc_now());
  h5::write_string_attribute(root, "command_line", r.command_line);
  h5::write_string_attribute(root, "hook", r.hook);
  h5::write_string_attribute(root, "data_kind", r.data_kind);
  h5::write_string_attribute(root, "base_label", "base");
  std::vector<std::string> labels;
  for (const auto& a : r.aligned) labels.push_back(a.label);
  h5::write_string_array_attribute(root, "aligned_labels", labels);
  h5::write_string_attribute(root, "layout", several ? "per_label" : "single");
  h5::write_double_attribute(root, "alpha", r.options.alpha);
  {
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    h5::write_string_attribute(root, "hdf5_version",
                               std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release));
  }

  // Provenance.
  {
    auto prov = h5::create_group(root, "provenance");
    h5::write_string_scalar(prov.get(), "config_toml", r.config_toml);
    h5::write_string_scalar(prov.get(), "command_line", r.command_line);
    auto models = h5::create_group(prov.get(), "models");
    {
      auto base = h5::create_group(models.get(), "base");
      ModelSource s{r.options.base, "model", r.options.base, std::nullopt, std::nullopt};
      write_model_attributes(base.get(), s, r.base_hash);
    }
    for (const auto& a : r.aligned) {
      auto g = h5::create_group(models.get(), a.label);
      write_model_attributes(g.get(), a.source, a.content_hash);
    }
    auto sae = h5::create_group(prov.get(), "sae");
    h5::write_string_attribute(sae.get(), "path", r.options.sae.string());
    h5::write_string_attribute(sae.get(), "format", r.sae_format);
    h5::write_string_attribute(sae.get(), "architecture", r.sae_architecture);
    h5::write_int64_attribute(sae.get(), "d_in", r.d_in);
    h5::write_int64_attribute(sae.get(), "d_sae", r.d_sae);
    h5::write_string_attribute(sae.get(), "hook", r.hook);
    h5::write_string_attribute(sae.get(), "normalization", r.sae_normalization);
    h5::write_double_attribute(sae.get(), "activation_scale", r.sae_activation_scale);
    h5::write_string_attribute(sae.get(), "normalization_from", "the SAE's own (identical for every model)");
    h5::write_string_attribute(sae.get(), "sha256", r.sae_hash);
    const auto norms = to_float(r.decoder_norms);
    auto d = h5::write_float_array(sae.get(), "decoder_norm", {r.d_sae}, norms.data());
    h5::write_string_attribute(d.get(), "description", "L2 norm of each decoder row in raw activation space");
    auto data = h5::create_group(prov.get(), "data");
    h5::write_string_attribute(data.get(), "path", r.options.data.string());
    h5::write_string_attribute(data.get(), "sha256", r.data_hash);
    h5::write_string_attribute(data.get(), "kind", r.data_kind);
    h5::write_string_attribute(data.get(), "summary", r.data_summary);
    h5::write_int64_attribute(data.get(), "sequences", r.sequences);
    h5::write_int64_attribute(data.get(), "units", r.units);
    h5::write_int64_attribute(data.get(), "positions", r.positions);
    h5::write_int64_attribute(data.get(), "analysed_tokens", r.analysed_tokens);
    h5::write_int64_attribute(data.get(), "excluded_special", r.excluded_special);
    h5::write_int64_attribute(data.get(), "excluded_repeated_prompt", r.excluded_repeat);
    h5::write_int64_attribute(data.get(), "excluded_outliers", r.excluded_outliers);
    h5::write_double_attribute(data.get(), "outlier_threshold", r.outlier_threshold);
    h5::write_double_attribute(data.get(), "outlier_factor", r.options.outlier_factor);
    std::vector<std::string> split_names;
    if (!r.aligned.empty())
      for (const auto& s : r.aligned[0].splits) split_names.push_back(s.name);
    h5::write_string_array_attribute(data.get(), "splits", split_names);
  }

  write_fidelity(root, r);

  // Per aligned model: features, splits, rankings, global, examples, logit lens.
  // With several aligned models every per-model group gains a level named by the label.
  h5::Group features_root = several ? h5::create_group(root, "features") : h5::Group{};
  auto splits_root = h5::create_group(root, "features_by_split");
  auto rankings_root = h5::create_group(root, "rankings");
  auto global_root = h5::create_group(root, "global");
  auto examples_root = h5::create_group(root, "selected");
  for (const auto& a : r.aligned) {
    auto sub = [&](hid_t parent) { return several ? h5::create_group(parent, a.label) : h5::Group{}; };
    auto sg_owner = sub(splits_root.get());
    auto rg_owner = sub(rankings_root.get());
    auto gg_owner = sub(global_root.get());
    auto eg_owner = sub(examples_root.get());
    const hid_t sg = several ? sg_owner.get() : splits_root.get();
    const hid_t rg = several ? rg_owner.get() : rankings_root.get();
    const hid_t gg = several ? gg_owner.get() : global_root.get();
    const hid_t eg = several ? eg_owner.get() : examples_root.get();

    // /features (or /features/<label>): the "all" split, plus preference and FPO columns.
    {
      FeatureFrame frame(several ? features_root.get() : root, several ? a.label : "features", r.d_sae, "all");
      write_stats_columns(frame, a.splits[0]);
      if (a.pref_gap_base.size() > 0) {
        frame.add("pref_gap_base", a.pref_gap_base, "mean activation on chosen minus on rejected response tokens, base",
                  "mean_base[chosen] - mean_base[rejected]", "activation");
        frame.add("pref_gap_aligned", a.pref_gap_aligned,
                  "mean activation on chosen minus on rejected response tokens, aligned model",
                  "mean_aligned[chosen] - mean_aligned[rejected]", "activation");
        frame.add("delta_pref_gap", a.delta_pref_gap, "change of the chosen-minus-rejected gap",
                  "pref_gap_aligned - pref_gap_base", "activation");
      }
      if (!a.constrained.empty()) {
        frame.add_bool("constrained", a.constrained, "FPO's top-k selected this feature at least once during training");
        frame.add("in_topk_rate", a.in_topk_rate,
                  "fraction of FPO's top-k selections (two per pair and step) that "
                  "included this feature",
                  "counts[f] / selections", "1");
      }
      h5::write_string_attribute(frame.get(), "label", a.label);
      frame.finish();
    }
    for (size_t s = 1; s < a.splits.size(); ++s) {
      FeatureFrame frame(sg, a.splits[s].name, r.d_sae, a.splits[s].name);
      write_stats_columns(frame, a.splits[s]);
      frame.finish();
    }
    for (const auto& rk : a.rankings) {
      auto d = h5::write_int32_array(rg, rk.name, {static_cast<int64_t>(rk.features.size())}, rk.features.data());
      h5::write_string_attribute(d.get(), "metric", rk.metric);
      h5::write_string_attribute(d.get(), "filter", rk.filter);
      h5::write_bool_attribute(d.get(), "descending", rk.descending);
      h5::write_bool_attribute(d.get(), "absolute", rk.absolute);
      h5::write_int64_attribute(d.get(), "k", rk.k);
      h5::write_string_attribute(d.get(), "split", "all");
    }
    // Global: KL per split, residual mean difference.
    {
      std::vector<std::string> keys;
      std::vector<std::pair<std::string, std::vector<double>>> cols{{"count", {}}, {"mean", {}}, {"std", {}},
                                                                    {"min", {}},   {"p25", {}},  {"p50", {}},
                                                                    {"p75", {}},   {"p95", {}},  {"p99", {}},
                                                                    {"max", {}}};
      for (const auto& k : a.kl) {
        keys.push_back(k.split);
        const auto q = k.kl.quantiles();
        const double v[] = {static_cast<double>(k.kl.count()),
                            k.kl.mean(),
                            k.kl.sd(),
                            k.kl.min(),
                            q.p25,
                            q.p50,
                            q.p75,
                            q.p95,
                            q.p99,
                            k.kl.max()};
        for (size_t c = 0; c < cols.size(); ++c) cols[c].second.push_back(v[c]);
      }
      write_row_frame(gg, "kl_per_token", "split", keys, cols,
                      "Per-token KL(aligned || base) of the next-token distributions, nats, over each split's "
                      "analysed positions; quantiles from a log-spaced histogram (docs/drift-statistics.md)");
      if (!a.constrained.empty()) write_constrained_summary(gg, a);
      const double norm = a.resid_delta_norm;
      auto d = h5::write_double_array(gg, "resid_delta_norm", {}, &norm);
      h5::write_string_attribute(d.get(), "description",
                                 "L2 norm of the mean over analysed tokens of (x_aligned - x_base) at the hook");
    }
    write_examples(eg, a);
    write_histograms(eg, a, r.histogram_edges);
    write_logit_lens(eg, a);
  }
  // The causal check: /causal, or /causal/<label> with several models.
  {
    bool any = false;
    for (const auto& a : r.aligned) any |= a.causal.has_value();
    if (any && several) {
      auto cg = h5::create_group(root, "causal");
      for (const auto& a : r.aligned)
        if (a.causal) write_causal(cg.get(), a.label, *a.causal, r.options);
    } else if (any) {
      write_causal(root, "causal", *r.aligned[0].causal, r.options);
    }
  }
  // The training runs' drift timelines: /timeline, or /timeline/<label> with several models.
  {
    bool any = false;
    for (const auto& a : r.aligned) any |= a.timeline.has_value();
    if (any) {
      auto tl = h5::create_group(root, "timeline");
      h5::write_string_attribute(tl.get(), "description",
                                 "the drift timeline the training run recorded (fpokit train --drift-every): "
                                 "schema fpokit-drift-timeline, docs/drift-schema.md");
      for (const auto& a : r.aligned) {
        if (!a.timeline) continue;
        if (several) {
          auto g = h5::create_group(tl.get(), a.label);
          write_drift_timeline_into(g.get(), *a.timeline);
        } else {
          write_drift_timeline_into(tl.get(), *a.timeline);
        }
      }
    }
  }
  // Token strings for the ids in examples and logit lens.
  {
    auto v = h5::create_group(root, "vocab");
    h5::write_int64_array(v.get(), "token_id", {static_cast<int64_t>(r.vocab_ids.size())}, r.vocab_ids.data());
    h5::write_string_array(v.get(), "token_str", r.vocab_strings);
    h5::write_string_attribute(v.get(), "description", "decoded text of every token id used in /selected");
  }
  h5::finish_file(file, path, failed_closes_at_start);
}

}  // namespace

void check_report_path(const fs::path& path, bool overwrite) {
  std::error_code ec;
  if (path.empty()) throw InputError("--out is required: the report file to write (e.g. drift.h5)");
  core::check_output_location(path, core::OutputKind::File, {.resume = false, .overwrite = overwrite});
  const auto parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec))
    throw InputError(path.string() + ": the folder " + parent.string() + " does not exist");
}

void write_drift_report(const DriftResult& result, const fs::path& path, bool overwrite) {
  check_report_path(path, overwrite);
  core::write_file_atomically(path, [&](const fs::path& tmp) { write_report(result, tmp); });
}

std::string drift_summary_table(const DriftResult& r, int64_t rows) {
  std::map<int64_t, std::string> text;
  for (size_t i = 0; i < r.vocab_ids.size(); ++i) text[r.vocab_ids[i]] = r.vocab_strings[i];
  auto token = [&](int64_t id) {
    auto s = text.count(id) ? text[id] : std::to_string(id);
    for (auto& c : s)
      if (c == '\n' || c == '\t') c = ' ';
    return "'" + s + "'";
  };
  std::string out;
  char line[512];
  for (const auto& a : r.aligned) {
    std::snprintf(line, sizeof line, "== %s vs base: %lld tokens, FVU %.3f (base %.3f), KL mean %.4g nats\n",
                  a.label.c_str(), static_cast<long long>(r.analysed_tokens), a.fidelity.fvu, r.base_fidelity.fvu,
                  a.kl.empty() ? std::nan("") : a.kl[0].kl.mean());
    out += line;
    std::map<int32_t, int64_t> row_of;
    for (size_t j = 0; j < a.examples.features.size(); ++j) row_of[a.examples.features[j]] = static_cast<int64_t>(j);
    const auto& st = a.splits[0].stats;
    const auto& tags = stats::feature_tag_names();
    for (const auto& rk : a.rankings) {
      std::snprintf(line, sizeof line, "-- %s (%s; %s)\n", rk.name.c_str(), rk.metric.c_str(), rk.filter.c_str());
      out += line;
      if (rk.features.empty()) out += "   (no eligible feature)\n";
      for (int64_t i = 0; i < std::min<int64_t>(rows, static_cast<int64_t>(rk.features.size())); ++i) {
        const int32_t f = rk.features[static_cast<size_t>(i)];
        std::string lens;
        if (row_of.count(f) && a.lens_aligned.k > 0) {
          const int64_t j = row_of[f];
          for (int64_t t = 0; t < std::min<int64_t>(3, a.lens_aligned.k); ++t)
            lens += (t ? " " : "") + token(a.lens_aligned.promoted_ids[static_cast<size_t>(j * a.lens_aligned.k + t)]);
        }
        std::snprintf(line, sizeof line, "%4lld  feature %-7d %-10s % .4g  dmean % .4g  q %.3g  -> %s\n",
                      static_cast<long long>(i + 1), f, std::string(tags[a.splits[0].tags[f]]).c_str(),
                      rk.values[static_cast<size_t>(i)], st.delta_mean[f], st.q_value[f], lens.c_str());
        out += line;
      }
    }
  }
  return out;
}

}  // namespace fpokit::analysis
