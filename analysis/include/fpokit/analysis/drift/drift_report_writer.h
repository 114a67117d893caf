#pragma once
// Writes a DriftResult as the HDF5 drift report, schema "fpokit-feature-drift" (docs/drift-schema.md
// documents every group, dataset, dtype, shape and attribute). The file is written under a
// temporary sibling name, synced and renamed into place (core::write_file_atomically): an
// interrupted run leaves no report.
#include <filesystem>
#include <string>

#include "fpokit/analysis/drift/drift_result.h"

namespace fpokit::analysis {

inline constexpr const char* kDriftSchema = "fpokit-feature-drift";
inline constexpr const char* kDriftSchemaVersion = "1.1.0";  // 1.1: /selected/histograms, /causal, /timeline

// Throws InputError when `path` exists and !overwrite (a finished report is never replaced by
// accident), or when it cannot be written.
void write_drift_report(const DriftResult& result, const std::filesystem::path& path, bool overwrite);

// The InputError write_drift_report would throw for an existing report, checked up front so that a
// long run does not end in it.
void check_report_path(const std::filesystem::path& path, bool overwrite);

// A short table for the terminal: per aligned model, the top `rows` features of each ranking with
// their value, tag and logit-lens tokens.
std::string drift_summary_table(const DriftResult& result, int64_t rows = 10);

}  // namespace fpokit::analysis
