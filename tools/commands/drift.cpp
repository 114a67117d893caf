// fpokit drift: which SAE features shift between a base model and aligned models, as an HDF5
// report (docs/drift.md, docs/drift-schema.md) and a short table on stdout.
#include <iostream>
#include <memory>

#include "cli_vocabulary.h"
#include "commands.h"
#include "config_options.h"
#include "dataset_options.h"
#include "fpokit/analysis/drift/drift_report_writer.h"
#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/analysis/report/html_report.h"
#include "fpokit/core/io/output_location.h"
#include "fpokit/core/log/progress_line.h"
#include "hub_names.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct DriftArgs {
  analysis::DriftOptions options;
  std::string base, sae, data, out, html;
  analysis::HtmlReportOptions html_options;
  std::vector<std::string> aligned;
  ModelOptions devices;  // --device/--dtype only: the models are --base and --aligned
  ConfigOptions config;
};

void run(DriftArgs& a, const CLI::App& cmd) {
  if (a.config.dumped(cmd)) return;
  auto& o = a.options;
  o.base = a.base;
  o.sae = a.sae;
  o.data = a.data;
  o.out = a.out;
  o.device = a.devices.device;
  o.dtype = a.devices.dtype;
  o.aligned.assign(a.aligned.begin(), a.aligned.end());
  analysis::check_report_path(o.out, o.force);  // before hours of work, not after
  if (!a.html.empty())
    core::check_output_location(a.html, core::OutputKind::File, {.resume = false, .overwrite = o.force}, "--html");
  std::unique_ptr<core::ProgressLine> progress;
  auto result = analysis::run_drift(o, [&](int64_t done, int64_t total) {
    if (!progress) progress = std::make_unique<core::ProgressLine>("drift", total);
    progress->update(done);
  });
  if (progress) progress->finish();
  result.command_line = command_line();
  result.config_toml = ConfigOptions::resolved(cmd);
  analysis::write_drift_report(result, o.out, o.force);
  std::cout << analysis::drift_summary_table(result);
  std::cout << "report: " << o.out.string() << "\n";
  if (!a.html.empty()) {
    analysis::write_drift_report_html(o.out, a.html, o.force, a.html_options);
    std::cout << "html: " << a.html << "\n";
  }
}

}  // namespace

void add_drift_command(CLI::App& app) {
  auto args = std::make_shared<DriftArgs>();
  auto& o = args->options;
  auto* cmd = app.add_subcommand("drift", "Report which SAE features shift between a base and aligned models (HDF5)");
  add_example_on_default(cmd,
                         "fpokit drift --base examples/demo/model --aligned runs/tour/dpo --aligned runs/tour/fpo "
                         "--sae examples/demo/sae/blocks.1.hook_resid_post --data examples/demo/corpus_heldout.jsonl "
                         "--tokens 16384 --causal 5 --causal-data examples/demo/prefs_heldout.jsonl --causal-pairs 16 "
                         "--out runs/tour/drift.h5 --html runs/tour/drift.html");
  accept_hub_name(cmd->add_option("--base", args->base, "Base model: an HF model directory"), core::HubRepoType::Model)
      ->required()
      ->group("Models");
  accept_hub_name(cmd->add_option("--aligned", args->aligned,
                                  "Aligned model(s): HF directory, fpokit train output folder, LoRA adapter folder or "
                                  "a run's checkpoint folder; repeat to compare several"),
                  core::HubRepoType::Model)
      ->required()
      ->group("Models");
  cmd->add_option("--label", o.labels, "Name of each --aligned model in the report (default: its folder name)")
      ->group("Models");
  accept_hub_name(cmd->add_option("--sae", args->sae,
                                  "SAE: fpokit/SAELens folder, sparsify folder or Gemma Scope params.npz"),
                  core::HubRepoType::Model)
      ->required()
      ->group("Models");
  cmd->add_option("--hook", o.hook, "Hook to read (default: the SAE's own), e.g. blocks.6.hook_resid_post")
      ->group("Models");
  args->devices.add_device_options(*cmd, {.group = "Models"});
  accept_hub_name(cmd->add_option("--data", args->data,
                                  "Text corpus or preference data (prompt/chosen/rejected): .jsonl, .jsonl.gz, .json, "
                                  ".parquet, plain text, or a dataset folder"),
                  core::HubRepoType::Dataset)
      ->required()
      ->group("Data");
  cmd->add_option("--data-kind", o.data_kind, "auto | text | preference")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "text", "preference"}))
      ->group("Data");
  cmd->add_option("--text-field", o.text_field, "Record field holding the text (text corpora)")
      ->capture_default_str()
      ->group("Data");
  add_split_option(*cmd, o.split);
  add_preference_field_options(*cmd, o.fields, /*unpaired_and_text=*/false);
  cmd->add_option("--chat-template", o.chat_template,
                  "Preference data: auto (the model's own template, if any) | model | chatml | llama-3 | gemma | "
                  "zephyr | plain | FILE.jinja")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--tokens", o.tokens, "Tokens to analyse (whole sequences)")->capture_default_str()->group("Data");
  cmd->add_option("--context-size", o.context_size, "Text corpora: tokens per context row")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--max-length", o.max_length, "Preference data: prompt + completion tokens")
      ->capture_default_str()
      ->group("Data");
  deprecated_name(cmd->add_option("--model-batch-size,--batch-size", o.batch_size, "Sequences per model forward")
                      ->capture_default_str()
                      ->group("Data"),
                  "batch-size");
  cmd->add_option("--top", o.top, "Features per ranking")->capture_default_str()->group("Report");
  cmd->add_option("--examples", o.examples, "Max-activating contexts per selected feature and model")
      ->capture_default_str()
      ->group("Report");
  cmd->add_option("--example-window", o.example_window, "Tokens each side of an example's position")
      ->capture_default_str()
      ->group("Report");
  cmd->add_option("--logit-lens-k", o.logit_lens_k, "Promoted and suppressed tokens per feature")
      ->capture_default_str()
      ->group("Report");
  cmd->add_option("--bootstrap", o.bootstrap, "Bootstrap replicates over sequences for effect-size CIs (0: none)")
      ->capture_default_str()
      ->group("Statistics");
  cmd->add_option("--seed", o.seed, "Seed of the bootstrap")->capture_default_str()->group("Statistics");
  cmd->add_option("--alpha", o.alpha, "q-value threshold for 'significant' (tags, effect-size ranking)")
      ->capture_default_str()
      ->group("Statistics");
  cmd->add_option("--min-rel-delta", o.min_rel_delta,
                  "Up/down tags and the effect-size ranking need |delta_mean| above this fraction of the feature's max")
      ->capture_default_str()
      ->group("Statistics");
  cmd->add_option("--outlier-factor", o.outlier_factor,
                  "Exclude positions whose base residual norm exceeds this times the median")
      ->capture_default_str()
      ->group("Statistics");
  cmd->add_option("--fidelity-tokens", o.fidelity_tokens, "Tokens on which CE with the SAE spliced in is measured")
      ->capture_default_str()
      ->group("Statistics");
  cmd->add_option("--causal", o.causal,
                  "Causal check of each ranking's first N features and N controls: attribution to the reward "
                  "margin, clamping in the aligned model, adding the shift to the base (0: off)")
      ->capture_default_str()
      ->group("Causal check");
  cmd->add_option("--causal-data", o.causal_data, "Preference pairs for --causal (default: --data, when it has them)")
      ->group("Causal check");
  cmd->add_option("--causal-pairs", o.causal_pairs, "Pairs --causal measures (the first of the data)")
      ->capture_default_str()
      ->group("Causal check");
  cmd->add_option("--out", args->out, "Report file to write (HDF5)")->required()->group("Output");
  cmd->add_option("--html", args->html, "Also write the report as one self-contained HTML page")->group("Output");
  cmd->add_option("--html-features", args->html_options.features, "HTML: features per ranking in the table")
      ->capture_default_str()
      ->group("Output");
  cmd->add_option("--html-contexts", args->html_options.contexts, "HTML: contexts per feature and model")
      ->capture_default_str()
      ->group("Output");
  deprecated_name(
      cmd->add_flag("--overwrite-output-dir,--force", o.force, "Replace an existing report")->group("Output"), "force");
  args->config.add_to(*cmd);
  cmd->callback([args, cmd] { run(*args, *cmd); });
}

}  // namespace fpokit::cli
