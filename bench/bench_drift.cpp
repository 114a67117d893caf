// fpokit drift's throughput against the sum of the passes it cannot avoid, on the same machine in
// the same run. Two sums, per model (1 + n_aligned), over the same tokens:
//   fused:     one forward to the logits (the hook's activation read on the way: KL needs the
//              logits) and one SAE encode: the least any implementation can do;
//   issue sum: a forward stopped at the hook, an SAE encode and a forward to the logits (the cost
//              model of the drift issue, which drift beats by reading the hook on the way).
// A ratio (sum's time / drift's time) is the fraction of that ideal drift reaches; the statistics, top activations,
// fidelity CE (on --fidelity-tokens) and report make up the rest. Model loading and content hashing are outside both
// timings: the drift time is run_drift's main pass as its progress callback sees it. Peak memory: run with --tokens N
// and 4N in separate processes and compare max_rss_mib.
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "fpokit/analysis/drift/causal_check.h"
#include "fpokit/analysis/drift/drift_data.h"
#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/analysis/drift/drift_timeline_recorder.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/context_packer.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

using namespace fpokit;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"fpokit drift vs the sum of its forwards and SAE encodes"};
  analysis::DriftOptions o;
  std::string model_dir, data, sae_dir;
  int64_t d_sae = 4096, aligned = 1;
  int threads = 0;
  std::string prefs;
  int64_t causal_n = 0, causal_pairs = 16;
  app.add_option("--model", model_dir, "Base model (also used as every aligned model: the cost is the same)")
      ->required();
  app.add_option("--data", data)->required();
  app.add_option("--sae", sae_dir, "SAE folder; default: a random TopK SAE written to /tmp at the last block");
  app.add_option("--d-sae", d_sae);
  app.add_option("--aligned", aligned, "Number of aligned models");
  app.add_option("--tokens", o.tokens);
  app.add_option("--context-size", o.context_size);
  app.add_option("--batch-size", o.batch_size);
  app.add_option("--bootstrap", o.bootstrap);
  app.add_option("--fidelity-tokens", o.fidelity_tokens);
  app.add_option("--device", o.device);
  app.add_option("--dtype", o.dtype);
  app.add_option("--threads", threads);
  app.add_option("--prefs", prefs, "Preference JSONL: also time the causal check (--causal N) on it");
  app.add_option("--causal", causal_n, "Causal check: top features (and as many controls)");
  app.add_option("--causal-pairs", causal_pairs, "Causal check: pairs");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(threads);
  auto model = lm::load_model(model_dir, {lm::parse_device(o.device), lm::parse_dtype(o.dtype)});
  model->eval();
  const auto device = model->parameters().front().device();
  const auto hook = lm::HookName{model->config().num_layers - 1, lm::HookPoint::ResidPost};
  if (sae_dir.empty()) {
    sae::SaeConfig c;
    c.architecture = sae::Architecture::TopK;
    c.d_in = model->config().hidden_size;
    c.d_sae = d_sae;
    c.k = 32;
    c.hook_name = hook.str();
    sae::SparseAutoencoder s(c);
    sae::initialize_weights(*s, sae::default_init_options(c.architecture, 1));
    sae_dir = "/tmp/fpokit-bench-drift-sae";
    sae::save_saelens(*s, sae_dir);
  }
  auto sae_module = sae::load_sae(sae_dir);
  sae_module->to(device);
  sae_module->eval();

  // The ideal: (1 + aligned) × (forward to the logits + SAE encode) over the same rows.
  const auto tok = lm::Tokenizer::from_directory(model_dir);
  sae::TextDataset ds(data);
  sae::ContextPacker packer(ds, *tok, o.context_size);
  std::vector<torch::Tensor> batches;
  int64_t tokens = 0;
  while (tokens < o.tokens) {
    std::vector<int64_t> flat;
    int64_t rows = 0;
    while (rows < o.batch_size) {
      auto row = packer.next_row();
      if (!row) break;
      flat.insert(flat.end(), row->begin(), row->end());
      ++rows;
    }
    if (rows == 0) break;
    batches.push_back(torch::tensor(flat).view({rows, o.context_size}).to(device));
    tokens += rows * (o.context_size - 1);
  }
  torch::NoGradGuard no_grad;
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  auto ideal_pass = [&] {
    for (const auto& ids : batches)
      for (int64_t m = 0; m < 1 + aligned; ++m) {
        torch::Tensor act;
        lm::Hooks h;
        h.on_read(hook, [&](const lm::HookName&, const torch::Tensor& a) { act = a; });
        const auto logits = model->forward({ids, {}}, &h);
        const auto f =
            sae_module->encode(sae_module->normalize_input(act.to(torch::kFloat32).reshape({-1, act.size(-1)})));
        (void)logits;
        (void)f;
      }
    sync();
  };
  // The issue's accounting adds a forward stopped at the hook per model (drift reads the hook on
  // the way to the logits, so it does not pay it).
  auto hook_pass = [&] {
    for (const auto& ids : batches)
      for (int64_t m = 0; m < 1 + aligned; ++m) {
        lm::Hooks h;
        h.capture(hook).stop_after_last_read();
        model->forward({ids, {}}, &h);
      }
    sync();
  };
  ideal_pass();  // warm-up
  auto t0 = Clock::now();
  ideal_pass();
  const double ideal_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  hook_pass();
  const double hook_s = std::chrono::duration<double>(Clock::now() - t0).count();

  o.base = model_dir;
  o.aligned.assign(static_cast<size_t>(aligned), model_dir);
  o.sae = sae_dir;
  o.data = data;
  Clock::time_point pass_start;
  double pass_s = 0;
  int64_t first_done = -1, pass_tokens = 0;
  const auto r = analysis::run_drift(o, [&](int64_t done, int64_t) {
    if (first_done < 0) {  // the first callback comes after the first batch: time from there
      first_done = done;
      pass_start = Clock::now();
      return;
    }
    pass_s = std::chrono::duration<double>(Clock::now() - pass_start).count();
    pass_tokens = done - first_done;
  });
  (void)r;
  // A drift-timeline snapshot (fpokit train --drift-every) on the same tokens: the model stands in
  // for the policy. The first observe also saves the base cache; the second is one snapshot.
  analysis::DriftTimelineOptions t;
  t.data = data;
  t.sae = sae_dir;
  t.every = 1;
  t.tokens = o.tokens;
  t.context_size = o.context_size;
  t.batch_size = o.batch_size;
  const auto timeline_dir = std::filesystem::temp_directory_path() / "fpokit-bench-drift-timeline";
  core::remove_tree(timeline_dir);  // not remove_all: core/io/atomic_output.h
  std::filesystem::create_directories(timeline_dir);
  analysis::DriftTimelineRecorder recorder(t, model_dir, timeline_dir);
  t0 = Clock::now();
  recorder.observe(*model, 0, 1);
  const double start_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  recorder.observe(*model, 1, 1);
  const double snapshot_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto snapshot_tokens = recorder.timeline().settings.analysed_tokens;
  core::remove_tree(timeline_dir);  // not remove_all: core/io/atomic_output.h
  // The causal check (fpokit drift --causal N) on preference pairs, the model standing in for both
  // the base and the aligned model (the cost is the same): N features and N controls.
  double causal_s = 0;
  int64_t causal_tokens = 0, causal_done_pairs = 0;
  if (!prefs.empty() && causal_n > 0) {
    for (auto& p : model->parameters()) p.set_requires_grad(false);
    for (auto& p : sae_module->parameters()) p.set_requires_grad(false);
    analysis::DriftDataOptions dd;
    dd.kind = "preference";
    dd.tokens = int64_t{1} << 40;
    const auto pdata = analysis::read_drift_data(prefs, *tok, model_dir, dd);
    analysis::CausalInputs in;
    in.base = model.get();
    in.aligned = model.get();
    in.sae = sae_module.get();
    in.hook = hook;
    in.data = &pdata;
    for (int32_t f = 0; f < causal_n; ++f) in.features.push_back(f);
    for (int32_t f = 0; f < causal_n; ++f) in.controls.push_back(static_cast<int32_t>(causal_n + f));
    in.delta_mean = Eigen::VectorXd::Constant(sae_module->config().d_sae, 0.1);
    t0 = Clock::now();
    const auto cr = analysis::run_causal_check(in, {.n = causal_n, .pairs = causal_pairs});
    causal_s = std::chrono::duration<double>(Clock::now() - t0).count();
    causal_tokens = cr.response_tokens;
    causal_done_pairs = cr.pairs;
  }
  // Scale the ideal to the tokens the timed part of drift's pass covered.
  const double ideal_per_token = ideal_s / static_cast<double>(tokens);
  const double issue_per_token = (ideal_s + hook_s) / static_cast<double>(tokens);
  const double drift_per_token = pass_s / static_cast<double>(std::max<int64_t>(1, pass_tokens));
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << "{\"tokens\": " << tokens << ", \"aligned\": " << aligned
            << ", \"ideal_tok_s\": " << 1.0 / ideal_per_token << ", \"issue_sum_tok_s\": " << 1.0 / issue_per_token
            << ", \"drift_tok_s\": " << 1.0 / drift_per_token
            << ", \"ratio_vs_fused\": " << ideal_per_token / drift_per_token
            << ", \"ratio_vs_issue_sum\": " << issue_per_token / drift_per_token
            << ", \"timeline_start_s\": " << start_s << ", \"snapshot_tok_s\": " << snapshot_tokens / snapshot_s
            << ", \"drift_over_snapshot_time\": " << (snapshot_tokens / snapshot_s) * drift_per_token
            << ", \"causal_n\": " << causal_n << ", \"causal_pairs\": " << causal_done_pairs
            << ", \"causal_tokens\": " << causal_tokens << ", \"causal_s\": " << causal_s
            << ", \"causal_over_drift_same_tokens\": "
            << (causal_tokens > 0 ? causal_s / (static_cast<double>(causal_tokens) * drift_per_token) : 0.0)
            << ", \"max_rss_mib\": " << usage.ru_maxrss / 1024.0 << "}\n";
}
