#pragma once
// The drift timeline of a training run: `<out>/drift_timeline.h5`, schema "fpokit-drift-timeline"
// (docs/drift-schema.md, 'Timeline'). Every N optimizer steps (and at step 0 and the last step)
// `fpokit train --drift-every N` measures the policy against the starting model on a fixed token
// set, with the drift report's per-feature statistics of the "all" split (drift_report_writer.h)
// and its tags; each statistic is one [n_snapshots, d_sae] float32 dataset, a chunk per snapshot.
// The file is rewritten atomically after each snapshot (write_drift_timeline), so that a run
// killed at any instant leaves the previous complete timeline.
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace fpokit::analysis {

inline constexpr const char* kDriftTimelineSchema = "fpokit-drift-timeline";
inline constexpr const char* kDriftTimelineSchemaVersion = "1.0.0";

// What a timeline measured and how; a resumed run must continue with the same settings.
struct DriftTimelineSettings {
  std::string sae;          // the SAE folder or file, as given
  std::string sae_content;  // content fingerprint of the SAE (hex)
  std::string hook;
  std::string data;          // the token set's file, as given
  std::string data_content;  // content fingerprint of the data (hex)
  std::string data_kind;     // text | preference
  int64_t every = 0;         // snapshot interval, optimizer steps
  int64_t tokens = 0;        // --drift-tokens asked for
  int64_t analysed_tokens = 0;
  int64_t batch_size = 0;
  int64_t d_sae = 0;
  double alpha = 0.05, min_rel_delta = 1e-4, outlier_factor = 10;

  // The first setting that differs from `other`, as "name: this vs other"; empty when they match.
  std::string difference(const DriftTimelineSettings& other) const;
};

// One snapshot: the policy at `step` against the starting model.
struct DriftSnapshot {
  int64_t step = 0;
  double seconds = 0;           // wall time the snapshot took
  double resid_delta_norm = 0;  // ||mean over analysed tokens of (x_policy - x_base)|| at the hook
  double l0 = 0;                // mean active features per analysed token, policy
  double fvu = 0;               // SAE fraction of variance unexplained on the policy's activations
  // Per-feature columns in stats::FeatureDriftStats::column_names() order, d_sae floats each.
  std::vector<std::vector<float>> columns;
  std::vector<uint8_t> tags;  // stats::FeatureTag codes, as the report's tag column
};

struct DriftTimeline {
  DriftTimelineSettings settings;
  double l0_base = 0, fvu_base = 0;  // the starting model's, on the same tokens
  std::vector<DriftSnapshot> snapshots;
};

// Writes `timeline` to `path` atomically (a temporary sibling, synced and renamed).
void write_drift_timeline(const DriftTimeline& timeline, const std::filesystem::path& path);

// Reads a timeline. InputError naming the file and the object when it is not one (schema, shapes).
DriftTimeline read_drift_timeline(const std::filesystem::path& path);

// The timeline's attributes, per-snapshot vectors and /features group written into (read from) an
// open group: the file's root, or a drift report's /timeline (docs/drift-schema.md). `path` names
// the file in messages.
void write_drift_timeline_into(hid_t group, const DriftTimeline& timeline);
DriftTimeline read_drift_timeline_from(hid_t group, const std::filesystem::path& path);

}  // namespace fpokit::analysis
