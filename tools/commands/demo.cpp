// fpokit demo: the whole mission on the embedded default (analysis/demo/demo_run.h, docs/demo.md).
#include <iostream>
#include <memory>

#include "commands.h"
#include "fpokit/analysis/demo/demo_run.h"

namespace fpokit::cli {

namespace {

struct DemoArgs {
  analysis::DemoOptions options;
  std::string demo_dir, out = "runs/demo";
  bool quiet = false;
};

}  // namespace

void add_demo_command(CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand(
      "demo", "The whole mission on the embedded default: SAE, DPO/SimPO/TDPO2/FPO, drift report, samples, summary");
  add_example_on_default(cmd, "fpokit demo --quick --out runs/demo-quick");
  cmd->add_flag("--quick", a->options.quick, "Fewer steps, tokens and samples (about 3 minutes on 2 CPU cores)")
      ->group("Run");
  cmd->add_option("--out", a->out, "Output folder")->capture_default_str()->group("Run");
  cmd->add_option("--device", a->options.device, "cpu, cuda or cuda:N")->capture_default_str()->group("Run");
  cmd->add_flag("--retrain-sae", a->options.retrain_sae, "Train the SAE again instead of using the committed one")
      ->group("Run");
  cmd->add_flag("--force", a->options.force, "Run again in an --out that holds a finished demo")->group("Run");
  cmd->add_option("--demo-dir", a->demo_dir,
                  "The embedded default's folder (default: FPOKIT_DEMO_DIR, else examples/demo of the source tree)")
      ->group("Run");
  cmd->add_flag("--quiet", a->quiet, "No progress lines")->group("Run");
  cmd->callback([a] {
    a->options.out = a->out;
    if (!a->demo_dir.empty()) a->options.demo_dir = a->demo_dir;
    a->options.progress = !a->quiet;
    const auto summary = analysis::run_demo(a->options);
    std::cout << analysis::demo_summary_table(summary);
  });
}

}  // namespace fpokit::cli
