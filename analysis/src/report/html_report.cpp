#include "fpokit/analysis/report/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "fpokit/analysis/drift/drift_report_writer.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "fpokit/core/io/output_location.h"

namespace fpokit::analysis {

namespace fs = std::filesystem;
namespace h5 = core::hdf5;
using nlohmann::json;

namespace {

// The page's text: analysis/src/report/drift_report_page.html, compiled in (cmake/EmbedText.cmake).
constexpr const char kPage[] =
#include "drift_report_page.inc"
    ;
constexpr const char kDataMarker[] = "/*FPOKIT_REPORT_DATA*/";

// 4 significant digits: the page shows 3, and full doubles would triple the file's size. NaN and
// infinities become null (JSON has neither).
json r4(double v) {
  if (!std::isfinite(v)) return nullptr;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return std::strtod(buf, nullptr);
}

json rounded(const std::vector<double>& v) {
  json out = json::array();
  for (const double x : v) out.push_back(r4(x));
  return out;
}

// open_group for a path of several components ("provenance/sae").
h5::Group open_path(hid_t location, const std::string& path) {
  h5::Group g;
  size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    g = h5::open_group(g ? g.get() : location, part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return g;
}

std::string attr_string(hid_t object, const char* name) { return h5::read_string_attribute(object, name).value_or(""); }

std::vector<int8_t> read_enum_or_int8(hid_t location, const std::string& name) {
  const auto slash = name.rfind('/');
  const auto parent = slash == std::string::npos ? h5::Group{} : open_path(location, name.substr(0, slash));
  const auto dataset = h5::open_dataset(parent ? parent.get() : location, name.substr(slash + 1));
  const auto shape = h5::dataset_shape(dataset.get());
  int64_t n = 1;
  for (const auto d : shape) n *= d;
  std::vector<int8_t> out(static_cast<size_t>(n));
  const auto type = h5::dataset_type(dataset.get());
  const auto memory = H5Tget_class(type.get()) == H5T_ENUM ? h5::bool_type() : h5::Datatype(H5Tcopy(H5T_NATIVE_INT8));
  if (n > 0 && H5Dread(dataset.get(), memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    h5::fail(dataset.get(), "cannot read as int8");
  return out;
}

// A dataframe group (core/io/hdf5_dataframe.h) as {column: values}; string index columns as strings.
json read_row_frame(hid_t parent, const std::string& name, const std::string& index) {
  auto g = open_path(parent, name);
  json out = json::object();
  out[index] = h5::read_string_array(g.get(), index);
  for (const auto& col : h5::link_names(g.get())) {
    if (col == index) continue;
    out[col] = rounded(h5::read_double_array(g.get(), col));
  }
  return out;
}

std::string sub(const std::string& group, const std::string& label, bool several) {
  return several ? group + "/" + label : group;
}

json read_aligned(hid_t root, const std::string& label, bool several, const HtmlReportOptions& o,
                  std::set<int64_t>& vocab) {
  json a;
  a["label"] = label;
  // Per-feature columns of split all.
  const std::string features = several ? "features/" + label : "features";
  auto fg = open_path(root, features);
  const auto d_sae = static_cast<int64_t>(h5::read_int64_array(fg.get(), "feature_id").size());
  std::map<std::string, std::vector<double>> col;
  for (const char* c : {"delta_write", "delta_mean", "effect_size", "q_value", "dlog10_freq", "freq_base",
                        "freq_aligned", "mean_base", "mean_aligned", "max_base", "max_aligned", "paired_corr"})
    col[c] = h5::read_double_array(fg.get(), c);
  std::vector<std::string> tag_names = h5::read_string_array(fg.get(), "tag/categories");
  const auto tag_codes = read_enum_or_int8(fg.get(), "tag/codes");
  std::vector<int8_t> constrained;
  if (h5::has_link(fg.get(), "constrained")) constrained = read_enum_or_int8(fg.get(), "constrained");

  // Rankings: the first `features` of each.
  json rankings = json::array();
  std::set<int64_t> rows;
  {
    auto rg = open_path(root, sub("rankings", label, several));
    for (const auto& name : h5::link_names(rg.get())) {
      const auto d = h5::open_dataset(rg.get(), name);
      auto ids = h5::read_int64_array(rg.get(), name);
      if (static_cast<int64_t>(ids.size()) > o.features) ids.resize(static_cast<size_t>(o.features));
      rows.insert(ids.begin(), ids.end());
      rankings.push_back({{"name", name},
                          {"metric", attr_string(d.get(), "metric")},
                          {"filter", attr_string(d.get(), "filter")},
                          {"features", ids}});
    }
  }
  // The table: one row per feature in any ranking's head.
  json table = json::object();
  std::vector<int64_t> ids(rows.begin(), rows.end());
  table["feature_id"] = ids;
  for (const auto& [name, values] : col) {
    json v = json::array();
    for (const auto f : ids) v.push_back(r4(values[static_cast<size_t>(f)]));
    table[name] = v;
  }
  {
    json tags = json::array(), cons = json::array();
    for (const auto f : ids) {
      const auto code = tag_codes[static_cast<size_t>(f)];
      tags.push_back(code >= 0 && code < static_cast<int>(tag_names.size()) ? tag_names[code] : "?");
      if (!constrained.empty()) cons.push_back(constrained[static_cast<size_t>(f)] != 0);
    }
    table["tag"] = tags;
    if (!constrained.empty()) table["constrained"] = cons;
  }
  a["table"] = table;
  a["rankings"] = rankings;
  a["d_sae"] = d_sae;

  // Volcano: every feature with a finite effect size and q-value.
  {
    json fx = json::array(), fy = json::array(), fid = json::array(), ftag = json::array();
    for (int64_t f = 0; f < d_sae; ++f) {
      const double e = col["effect_size"][f], q = col["q_value"][f];
      if (!std::isfinite(e) || !std::isfinite(q)) continue;
      fx.push_back(r4(e));
      fy.push_back(r4(-std::log10(std::max(q, 1e-300))));
      fid.push_back(f);
      ftag.push_back(tag_codes[static_cast<size_t>(f)]);
    }
    a["volcano"] = {{"effect_size", fx}, {"neg_log10_q", fy}, {"feature_id", fid}, {"tag", ftag}};
    a["tag_names"] = tag_names;
  }
  // delta_write histogram over the features where it is defined and non-zero (40 bins).
  {
    std::vector<double> v;
    for (const double x : col["delta_write"])
      if (std::isfinite(x) && x != 0) v.push_back(x);
    json counts = json::array();
    double lo = 0, hi = 0;
    if (!v.empty()) {
      lo = *std::min_element(v.begin(), v.end());
      hi = *std::max_element(v.begin(), v.end());
      if (hi == lo) hi = lo + 1e-12;
      std::vector<int64_t> c(40, 0);
      for (const double x : v)
        ++c[static_cast<size_t>(std::min<int64_t>(39, static_cast<int64_t>((x - lo) / (hi - lo) * 40)))];
      counts = c;
    }
    a["delta_write_hist"] = {{"lo", r4(lo)},
                             {"hi", r4(hi)},
                             {"counts", counts},
                             {"zero_or_undefined", d_sae - static_cast<int64_t>(v.size())}};
  }
  // Global: KL per split and the residual shift.
  {
    auto gg = open_path(root, sub("global", label, several));
    a["kl"] = read_row_frame(gg.get(), "kl_per_token", "split");
    a["resid_delta_norm"] = r4(h5::read_double_array(gg.get(), "resid_delta_norm")[0]);
  }
  // Selected features: contexts, histograms, logit lens.
  {
    auto sg = open_path(root, sub("selected", label, several));
    const auto sel = h5::read_int64_array(sg.get(), "examples/feature_id");
    std::vector<int64_t> shape;
    const auto group = h5::read_int64_array(sg.get(), "examples/group", &shape);
    const int64_t n_ex = shape.size() == 2 ? shape[1] : 0;
    std::vector<int64_t> tshape;
    const auto tokens = h5::read_int64_array(sg.get(), "examples/token_ids", &tshape);
    const int64_t W = tshape.size() == 3 ? tshape[2] : 0;
    const auto act_b = h5::read_double_array(sg.get(), "examples/act_base");
    const auto act_a = h5::read_double_array(sg.get(), "examples/act_aligned");
    json selected = json::object();
    for (size_t j = 0; j < sel.size(); ++j) {
      json f;
      json examples = json::array();
      std::map<int64_t, int64_t> taken;  // per group
      for (int64_t e = 0; e < n_ex; ++e) {
        const int64_t k = static_cast<int64_t>(j) * n_ex + e;
        if (group[k] < 0 || taken[group[k]]++ >= o.contexts) continue;
        json toks = json::array(), ab = json::array(), aa = json::array();
        for (int64_t w = 0; w < W; ++w) {
          const int64_t t = tokens[k * W + w];
          toks.push_back(t);
          if (t >= 0) vocab.insert(t);
          ab.push_back(r4(act_b[k * W + w]));
          aa.push_back(r4(act_a[k * W + w]));
        }
        examples.push_back({{"group", group[k]}, {"tokens", toks}, {"base", ab}, {"aligned", aa}});
      }
      f["examples"] = examples;
      selected[std::to_string(sel[j])] = f;
    }
    if (h5::has_link(sg.get(), "histograms")) {
      const auto edges = h5::read_double_array(sg.get(), "histograms/bin_edges");
      std::vector<int64_t> hs;
      const auto cb = h5::read_int64_array(sg.get(), "histograms/counts_base", &hs);
      const auto ca = h5::read_int64_array(sg.get(), "histograms/counts_aligned");
      const auto hid = h5::read_int64_array(sg.get(), "histograms/feature_id");
      const int64_t nb = hs.size() == 2 ? hs[1] : 0;
      for (size_t j = 0; j < hid.size(); ++j) {
        // Only the bins from the first to the last non-empty one (of either model).
        int64_t first = nb, last = -1;
        for (int64_t b = 0; b < nb; ++b)
          if (cb[j * nb + b] > 0 || ca[j * nb + b] > 0) first = std::min(first, b), last = b;
        json h = {{"edges", json::array()}, {"base", json::array()}, {"aligned", json::array()}};
        for (int64_t b = first; b <= last; ++b) {
          h["base"].push_back(cb[j * nb + b]);
          h["aligned"].push_back(ca[j * nb + b]);
        }
        for (int64_t b = first; last >= 0 && b <= last + 1; ++b) h["edges"].push_back(r4(edges[b]));
        auto key = std::to_string(hid[j]);
        if (selected.contains(key)) selected[key]["hist"] = h;
      }
    }
    if (h5::has_link(sg.get(), "logit_lens")) {
      const auto lid = h5::read_int64_array(sg.get(), "logit_lens/feature_id");
      for (const std::string m : {"base", "aligned"}) {
        std::vector<int64_t> ls;
        const auto pid = h5::read_int64_array(sg.get(), "logit_lens/promoted_ids_" + m, &ls);
        const auto pv = h5::read_double_array(sg.get(), "logit_lens/promoted_values_" + m);
        const auto sid = h5::read_int64_array(sg.get(), "logit_lens/suppressed_ids_" + m);
        const auto sv = h5::read_double_array(sg.get(), "logit_lens/suppressed_values_" + m);
        const int64_t k = ls.size() == 2 ? ls[1] : 0;
        for (size_t j = 0; j < lid.size(); ++j) {
          json promoted = json::array(), suppressed = json::array();
          for (int64_t i = 0; i < k; ++i) {
            promoted.push_back({pid[j * k + i], r4(pv[j * k + i])});
            suppressed.push_back({sid[j * k + i], r4(sv[j * k + i])});
            vocab.insert(pid[j * k + i]);
            vocab.insert(sid[j * k + i]);
          }
          auto key = std::to_string(lid[j]);
          if (selected.contains(key)) selected[key]["lens_" + m] = {{"promoted", promoted}, {"suppressed", suppressed}};
        }
      }
    }
    a["selected"] = selected;
  }
  // The causal check (--causal): per feature, and the aligned model's own margin and KL.
  const std::string causal = several ? "causal/" + label : "causal";
  if (h5::has_link(root, "causal") && (!several || h5::has_link(open_path(root, "causal").get(), label))) {
    auto cg = open_path(root, causal);
    const auto cid = h5::read_int64_array(cg.get(), "feature_id");
    const auto group = read_enum_or_int8(cg.get(), "group/codes");
    const auto ranks = h5::read_string_array(cg.get(), "rankings");
    json rows = json::array();
    std::map<std::string, std::vector<double>> cols;
    for (const char* c : {"attribution_aligned", "attribution_base", "clamp_margin_change", "clamp_accuracy_change",
                          "clamp_kl", "clamp_kl_removed", "add_margin_change", "add_accuracy_change", "add_kl"})
      cols[c] = h5::read_double_array(cg.get(), c);
    for (size_t i = 0; i < cid.size(); ++i) {
      json row = {{"feature", cid[i]}, {"control", group[i] == 1}, {"rankings", i < ranks.size() ? ranks[i] : ""}};
      for (const auto& [name, values] : cols) row[name] = r4(values[i]);
      rows.push_back(row);
    }
    a["causal"] = {{"pairs", h5::read_int64_attribute(cg.get(), "pairs").value_or(0)},
                   {"margin_aligned", r4(h5::read_double_attribute(cg.get(), "margin_aligned").value_or(NAN))},
                   {"accuracy_aligned", r4(h5::read_double_attribute(cg.get(), "accuracy_aligned").value_or(NAN))},
                   {"kl_aligned", r4(h5::read_double_attribute(cg.get(), "kl_aligned").value_or(NAN))},
                   {"features", rows}};
  }
  // The training run's timeline: per snapshot, the selected features' delta_mean and delta_write.
  const std::string tl = several ? "timeline/" + label : "timeline";
  if (h5::has_link(root, "timeline") && (!several || h5::has_link(open_path(root, "timeline").get(), label))) {
    auto tg = open_path(root, tl);
    std::vector<int64_t> shape;
    const auto steps = h5::read_int64_array(tg.get(), "step");
    const auto dm = h5::read_double_array(tg.get(), "features/delta_mean", &shape);
    const auto dw = h5::read_double_array(tg.get(), "features/delta_write");
    const int64_t F = shape.size() == 2 ? shape[1] : 0;
    json per = json::object();
    for (auto& [key, value] : a["selected"].items()) {
      const int64_t f = std::stoll(key);
      if (f >= F) continue;
      json m = json::array(), w = json::array();
      for (size_t i = 0; i < steps.size(); ++i) {
        m.push_back(r4(dm[i * F + f]));
        w.push_back(r4(dw[i * F + f]));
      }
      per[key] = {{"delta_mean", m}, {"delta_write", w}};
    }
    a["timeline"] = {{"step", steps},
                     {"every", h5::read_int64_attribute(tg.get(), "every").value_or(0)},
                     {"resid_delta_norm", rounded(h5::read_double_array(tg.get(), "resid_delta_norm"))},
                     {"features", per}};
  }
  return a;
}

}  // namespace

json drift_report_page_data(const fs::path& report, const HtmlReportOptions& o) {
  if (o.features < 1 || o.contexts < 0)
    throw InputError("--html-features must be positive and --html-contexts not negative");
  auto file = h5::open_file(report);
  const hid_t root = file.get();
  const auto schema = h5::read_string_attribute(root, "schema");
  if (!schema || *schema != kDriftSchema)
    throw InputError(report.string() + ": not a drift report (schema '" + schema.value_or("") + "', expected '" +
                     kDriftSchema + "'); make one with fpokit drift");
  const auto version = attr_string(root, "schema_version");
  if (version.rfind("1.", 0) != 0)
    throw InputError(report.string() + ": drift report schema version " + version + "; this fpokit reads 1.x");
  json d;
  for (const char* a :
       {"schema_version", "created_utc", "command_line", "hook", "data_kind", "fpokit_version", "git_commit", "layout"})
    d[a] = attr_string(root, a);
  const auto labels = h5::read_string_array_attribute(root, "aligned_labels");
  const bool several = attr_string(root, "layout") == "per_label";
  d["labels"] = labels;
  {
    auto sae = open_path(root, "provenance/sae");
    d["sae"] = {{"path", attr_string(sae.get(), "path")},
                {"format", attr_string(sae.get(), "format")},
                {"architecture", attr_string(sae.get(), "architecture")},
                {"d_sae", h5::read_int64_attribute(sae.get(), "d_sae").value_or(0)},
                {"d_in", h5::read_int64_attribute(sae.get(), "d_in").value_or(0)}};
    auto data = open_path(root, "provenance/data");
    d["data"] = {{"path", attr_string(data.get(), "path")},
                 {"summary", attr_string(data.get(), "summary")},
                 {"analysed_tokens", h5::read_int64_attribute(data.get(), "analysed_tokens").value_or(0)},
                 {"excluded_special", h5::read_int64_attribute(data.get(), "excluded_special").value_or(0)},
                 {"excluded_outliers", h5::read_int64_attribute(data.get(), "excluded_outliers").value_or(0)}};
    json models = json::array();
    auto mg = open_path(root, "provenance/models");
    for (const auto& name : h5::link_names(mg.get())) {
      auto g = h5::open_group(mg.get(), name);
      models.push_back({{"label", name},
                        {"path", attr_string(g.get(), "path")},
                        {"kind", attr_string(g.get(), "kind")},
                        {"checkpoint_step", h5::read_int64_attribute(g.get(), "checkpoint_step").value_or(-1)}});
    }
    d["models"] = models;
  }
  d["fidelity"] = read_row_frame(root, "sae_fidelity", "model");
  std::set<int64_t> vocab;
  d["aligned"] = json::array();
  for (const auto& label : labels) d["aligned"].push_back(read_aligned(root, label, several, o, vocab));
  {
    const auto ids = h5::read_int64_array(root, "vocab/token_id");
    const auto text = h5::read_string_array(root, "vocab/token_str");
    json v = json::object();
    for (size_t i = 0; i < ids.size() && i < text.size(); ++i)
      if (vocab.count(ids[i])) v[std::to_string(ids[i])] = text[i];
    d["vocab"] = v;
  }
  return d;
}

std::string drift_report_html(const json& data) {
  // Inside <script>, "</" would end the element: JSON allows "<\/" for it.
  std::string blob = data.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string safe;
  safe.reserve(blob.size());
  for (size_t i = 0; i < blob.size(); ++i) {
    if (blob[i] == '<' && i + 1 < blob.size() && blob[i + 1] == '/') {
      safe += "<\\/";
      ++i;
      continue;
    }
    safe += blob[i];
  }
  const std::string page = kPage;
  const auto at = page.find(kDataMarker);
  if (at == std::string::npos) throw std::logic_error("drift_report_page.html lacks its data marker");
  return page.substr(0, at) + safe + page.substr(at + sizeof(kDataMarker) - 1);
}

void write_drift_report_html(const fs::path& report, const fs::path& html, bool overwrite,
                             const HtmlReportOptions& options) {
  core::check_output_location(html, core::OutputKind::File, {.resume = false, .overwrite = overwrite}, "--html");
  const auto text = drift_report_html(drift_report_page_data(report, options));
  core::write_text_file_atomically(html, text);
}

}  // namespace fpokit::analysis
