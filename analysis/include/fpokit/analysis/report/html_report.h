#pragma once
// The drift report as one self-contained HTML file (`fpokit drift --html`, `fpokit report --html`;
// docs/drift.md, 'HTML view'): the page (analysis/src/report/drift_report_page.html: HTML, CSS and
// JavaScript, no network, no external script or font) with the report's data embedded as JSON.
//
// The page shows the run summary (models, SAE, data, SAE fidelity per model, KL), a sortable and
// filterable table of the top features of every ranking with one column group per aligned model, a
// volcano plot (effect size vs -log10 q) and a delta_write histogram per model, and for a selected
// feature: activation histograms under both models, max-activating contexts with per-token
// highlighting under both models, logit-lens tokens and the training timeline when there is one.
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fpokit::analysis {

struct HtmlReportOptions {
  int64_t features = 200;  // per ranking: the table's rows come from the first `features` of each
  int64_t contexts = 20;   // max-activating contexts per feature and model group
};

// The data the page embeds, read from a drift report (schema fpokit-feature-drift 1.x). InputError
// naming the file and the object when it is not such a report.
nlohmann::json drift_report_page_data(const std::filesystem::path& report, const HtmlReportOptions& options = {});

// The whole page for `data`.
std::string drift_report_html(const nlohmann::json& data);

// Reads `report` and writes the page to `html` atomically. InputError when `html` exists and
// !overwrite, or when the report cannot be read.
void write_drift_report_html(const std::filesystem::path& report, const std::filesystem::path& html, bool overwrite,
                             const HtmlReportOptions& options = {});

}  // namespace fpokit::analysis
