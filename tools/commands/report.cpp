// fpokit report: an existing drift report (HDF5) as one self-contained HTML page
// (analysis/report/html_report.h; docs/drift.md, 'HTML view').
#include <iostream>
#include <memory>

#include "commands.h"
#include "fpokit/analysis/report/html_report.h"
#include "fpokit/core/errors.h"

namespace fpokit::cli {

namespace {

struct ReportArgs {
  std::string report, html;
  bool force = false;
  analysis::HtmlReportOptions options;
};

}  // namespace

void add_report_command(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Render a drift report (HDF5) as one self-contained HTML page");
  add_example_on_default(cmd, "fpokit report runs/tour/drift.h5 --html runs/tour/report.html");
  cmd->add_option("report", a->report, "Drift report written by fpokit drift (.h5)")->required()->group("Input");
  cmd->add_option("--html", a->html, "HTML file to write")->required()->group("Output");
  cmd->add_option("--html-features", a->options.features, "Features per ranking in the table")
      ->capture_default_str()
      ->group("Output");
  cmd->add_option("--html-contexts", a->options.contexts, "Contexts per feature and model")
      ->capture_default_str()
      ->group("Output");
  cmd->add_flag("--force", a->force, "Replace an existing HTML file")->group("Output");
  cmd->callback([a] {
    analysis::write_drift_report_html(a->report, a->html, a->force, a->options);
    std::cout << "html: " << a->html << "\n";
  });
}

}  // namespace fpokit::cli
