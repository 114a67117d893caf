// drift_timeline.h5: writer and reader (docs/drift-schema.md, 'Timeline').
#include <cmath>
#include <sstream>

#include "fpokit/analysis/drift/drift_timeline.h"
#include "fpokit/analysis/stats/feature_drift_stats.h"
#include "fpokit/analysis/stats/feature_tags.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_handle.h"

#ifndef FPOKIT_VERSION
#define FPOKIT_VERSION "unknown"
#endif

namespace fpokit::analysis {

namespace fs = std::filesystem;
namespace h5 = core::hdf5;

std::string DriftTimelineSettings::difference(const DriftTimelineSettings& o) const {
  auto num = [](double v) { return (std::ostringstream() << v).str(); };
  const std::pair<const char*, std::pair<std::string, std::string>> fields[] = {
      {"SAE", {sae_content, o.sae_content}},
      {"hook", {hook, o.hook}},
      {"data", {data_content, o.data_content}},
      {"every", {std::to_string(every), std::to_string(o.every)}},
      {"tokens", {std::to_string(tokens), std::to_string(o.tokens)}},
      {"batch size", {std::to_string(batch_size), std::to_string(o.batch_size)}},
      {"alpha", {num(alpha), num(o.alpha)}},
      {"min_rel_delta", {num(min_rel_delta), num(o.min_rel_delta)}},
      {"outlier_factor", {num(outlier_factor), num(o.outlier_factor)}},
  };
  for (const auto& [name, values] : fields)
    if (values.first != values.second)
      return std::string(name) + " " +
             (name == std::string("SAE")    ? sae
              : name == std::string("data") ? data
                                            : values.first) +
             " vs " +
             (name == std::string("SAE")    ? o.sae
              : name == std::string("data") ? o.data
                                            : values.second);
  return "";
}

namespace {}  // namespace

void write_drift_timeline_into(hid_t root, const DriftTimeline& t) {
  const auto& s = t.settings;
  const auto n = static_cast<int64_t>(t.snapshots.size());
  h5::write_string_attribute(root, "sae", s.sae);
  h5::write_string_attribute(root, "sae_content", s.sae_content);
  h5::write_string_attribute(root, "hook", s.hook);
  h5::write_string_attribute(root, "data", s.data);
  h5::write_string_attribute(root, "data_content", s.data_content);
  h5::write_string_attribute(root, "data_kind", s.data_kind);
  h5::write_string_attribute(root, "split", "all");
  h5::write_int64_attribute(root, "every", s.every);
  h5::write_int64_attribute(root, "tokens", s.tokens);
  h5::write_int64_attribute(root, "analysed_tokens", s.analysed_tokens);
  h5::write_int64_attribute(root, "batch_size", s.batch_size);
  h5::write_int64_attribute(root, "d_sae", s.d_sae);
  h5::write_double_attribute(root, "alpha", s.alpha);
  h5::write_double_attribute(root, "min_rel_delta", s.min_rel_delta);
  h5::write_double_attribute(root, "outlier_factor", s.outlier_factor);
  h5::write_double_attribute(root, "l0_base", t.l0_base);
  h5::write_double_attribute(root, "fvu_base", t.fvu_base);

  auto per_snapshot = [&](const std::string& name, auto get, const char* description) {
    std::vector<double> v;
    for (const auto& snap : t.snapshots) v.push_back(static_cast<double>(get(snap)));
    auto d = h5::write_double_array(root, name, {n}, v.data());
    h5::write_string_attribute(d.get(), "description", description);
  };
  {
    std::vector<int64_t> steps;
    for (const auto& snap : t.snapshots) steps.push_back(snap.step);
    auto d = h5::write_int64_array(root, "step", {n}, steps.data());
    h5::write_string_attribute(d.get(), "description",
                               "optimizer steps done when the snapshot was taken (0: the start)");
  }
  per_snapshot(
      "seconds", [](const DriftSnapshot& x) { return x.seconds; }, "wall time the snapshot took, s");
  per_snapshot(
      "resid_delta_norm", [](const DriftSnapshot& x) { return x.resid_delta_norm; },
      "L2 norm of the mean over analysed tokens of (x_policy - x_base) at the hook");
  per_snapshot(
      "l0", [](const DriftSnapshot& x) { return x.l0; }, "mean active SAE features per analysed token, policy");
  per_snapshot(
      "fvu", [](const DriftSnapshot& x) { return x.fvu; },
      "SAE fraction of variance unexplained on the policy's activations");

  // Per-feature statistics: [n_snapshots, d_sae], one chunk per snapshot.
  auto features = h5::create_group(root, "features");
  h5::write_string_attribute(features.get(), "split", "all");
  const h5::ArrayLayout by_snapshot{.compress = true, .gzip_level = 4, .chunk_bytes = s.d_sae * 4};
  const auto& columns = stats::FeatureDriftStats::columns();
  std::vector<float> block(static_cast<size_t>(n * s.d_sae));
  for (size_t c = 0; c < columns.size(); ++c) {
    for (int64_t i = 0; i < n; ++i)
      std::copy(t.snapshots[i].columns[c].begin(), t.snapshots[i].columns[c].end(), block.begin() + i * s.d_sae);
    auto d =
        h5::write_float_array(features.get(), std::string(columns[c].name), {n, s.d_sae}, block.data(), by_snapshot);
    h5::write_string_attribute(d.get(), "description", columns[c].description);
    h5::write_string_attribute(d.get(), "formula", columns[c].formula);
    h5::write_string_attribute(d.get(), "units", columns[c].units);
    h5::write_double_attribute(d.get(), "missing", std::nan(""));
  }
  {
    std::vector<int8_t> tags(static_cast<size_t>(n * s.d_sae));
    for (int64_t i = 0; i < n; ++i)
      std::copy(t.snapshots[i].tags.begin(), t.snapshots[i].tags.end(), tags.begin() + i * s.d_sae);
    auto d = h5::write_int8_array(features.get(), "tag", {n, s.d_sae}, tags.data(), by_snapshot);
    std::vector<std::string> names;
    for (const auto name : stats::feature_tag_names()) names.emplace_back(name);
    h5::write_string_array_attribute(d.get(), "categories", names);
    h5::write_string_attribute(d.get(), "description", "the report's tag column: codes index the categories attribute");
  }
}

namespace {

void write_timeline(const DriftTimeline& t, const fs::path& path) {
  const auto failed_closes_at_start = h5::failed_closes();
  auto file = h5::create_file(path);
  const hid_t root = file.get();
  h5::write_string_attribute(root, "schema", kDriftTimelineSchema);
  h5::write_string_attribute(root, "schema_version", kDriftTimelineSchemaVersion);
  h5::write_string_attribute(root, "tool", "fpokit");
  h5::write_string_attribute(root, "fpokit_version", FPOKIT_VERSION);
  write_drift_timeline_into(root, t);
  h5::finish_file(file, path, failed_closes_at_start);
}

std::string required_string(hid_t root, const fs::path& path, const char* name) {
  auto v = h5::read_string_attribute(root, name);
  if (!v) throw InputError(path.string() + ": attribute '" + name + "' is missing: not a drift timeline fpokit wrote");
  return *v;
}
int64_t required_int(hid_t root, const fs::path& path, const char* name) {
  auto v = h5::read_int64_attribute(root, name);
  if (!v) throw InputError(path.string() + ": attribute '" + name + "' is missing: not a drift timeline fpokit wrote");
  return *v;
}
double required_double(hid_t root, const fs::path& path, const char* name) {
  auto v = h5::read_double_attribute(root, name);
  if (!v) throw InputError(path.string() + ": attribute '" + name + "' is missing: not a drift timeline fpokit wrote");
  return *v;
}

}  // namespace

void write_drift_timeline(const DriftTimeline& timeline, const fs::path& path) {
  for (const auto& snap : timeline.snapshots)
    if (snap.columns.size() != stats::FeatureDriftStats::columns().size() ||
        static_cast<int64_t>(snap.tags.size()) != timeline.settings.d_sae)
      throw std::logic_error("write_drift_timeline: a snapshot's columns do not match the settings");
  core::write_file_atomically(path, [&](const fs::path& tmp) { write_timeline(timeline, tmp); });
}

DriftTimeline read_drift_timeline(const fs::path& path) {
  auto file = h5::open_file(path);
  const auto schema = h5::read_string_attribute(file.get(), "schema");
  if (!schema || *schema != kDriftTimelineSchema)
    throw InputError(path.string() + ": not a drift timeline (schema '" + schema.value_or("") + "', expected '" +
                     kDriftTimelineSchema + "')");
  return read_drift_timeline_from(file.get(), path);
}

DriftTimeline read_drift_timeline_from(hid_t root, const fs::path& path) {
  DriftTimeline t;
  auto& s = t.settings;
  s.sae = required_string(root, path, "sae");
  s.sae_content = required_string(root, path, "sae_content");
  s.hook = required_string(root, path, "hook");
  s.data = required_string(root, path, "data");
  s.data_content = required_string(root, path, "data_content");
  s.data_kind = required_string(root, path, "data_kind");
  s.every = required_int(root, path, "every");
  s.tokens = required_int(root, path, "tokens");
  s.analysed_tokens = required_int(root, path, "analysed_tokens");
  s.batch_size = required_int(root, path, "batch_size");
  s.d_sae = required_int(root, path, "d_sae");
  s.alpha = required_double(root, path, "alpha");
  s.min_rel_delta = required_double(root, path, "min_rel_delta");
  s.outlier_factor = required_double(root, path, "outlier_factor");
  t.l0_base = required_double(root, path, "l0_base");
  t.fvu_base = required_double(root, path, "fvu_base");
  if (s.d_sae < 1) throw InputError(path.string() + ": attribute 'd_sae' is " + std::to_string(s.d_sae));

  std::vector<int64_t> shape;
  const auto steps = h5::read_int64_array(root, "step", &shape);
  const auto n = static_cast<int64_t>(steps.size());
  auto vector_of = [&](const char* name) {
    std::vector<int64_t> sh;
    auto v = h5::read_double_array(root, name, &sh);
    if (sh != std::vector<int64_t>{n})
      throw InputError(path.string() + ":/" + name + " does not have one value per snapshot (" + std::to_string(n) +
                       ")");
    return v;
  };
  const auto seconds = vector_of("seconds"), resid = vector_of("resid_delta_norm"), l0 = vector_of("l0"),
             fvu = vector_of("fvu");
  t.snapshots.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto& snap = t.snapshots[i];
    snap.step = steps[i];
    snap.seconds = seconds[i];
    snap.resid_delta_norm = resid[i];
    snap.l0 = l0[i];
    snap.fvu = fvu[i];
    if (i > 0 && steps[i] <= steps[i - 1])
      throw InputError(path.string() + ":/step is not increasing at snapshot " + std::to_string(i));
  }
  const auto& columns = stats::FeatureDriftStats::columns();
  const std::vector<int64_t> expected{n, s.d_sae};
  for (const auto& c : columns) {
    const std::string name = "features/" + std::string(c.name);
    std::vector<int64_t> sh;
    const auto v = h5::read_double_array(root, name, &sh);
    if (sh != expected)
      throw InputError(path.string() + ":/" + name + " is not [" + std::to_string(n) + ", " + std::to_string(s.d_sae) +
                       "]");
    for (int64_t i = 0; i < n; ++i)
      t.snapshots[i].columns.emplace_back(v.begin() + i * s.d_sae, v.begin() + (i + 1) * s.d_sae);
  }
  {
    std::vector<int64_t> sh;
    const auto v = h5::read_int64_array(root, "features/tag", &sh);
    if (sh != expected)
      throw InputError(path.string() + ":/features/tag is not [" + std::to_string(n) + ", " + std::to_string(s.d_sae) +
                       "]");
    const auto n_tags = static_cast<int64_t>(stats::feature_tag_names().size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t f = 0; f < s.d_sae; ++f) {
        const int64_t code = v[i * s.d_sae + f];
        if (code < 0 || code >= n_tags)
          throw InputError(path.string() + ":/features/tag has code " + std::to_string(code) + " at [" +
                           std::to_string(i) + ", " + std::to_string(f) + "]");
        t.snapshots[i].tags.push_back(static_cast<uint8_t>(code));
      }
  }
  return t;
}

}  // namespace fpokit::analysis
