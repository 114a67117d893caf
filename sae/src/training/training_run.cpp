#include "fpokit/sae/training/training_run.h"

#include <cstdio>
#include <memory>
#include <optional>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/fault/kill_point.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/hub_cache.h"
#include "fpokit/core/io/output_location.h"
#include "fpokit/core/log/log.h"
#include "fpokit/core/log/progress_line.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/core/train/metrics_log.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/activation_file_source.h"
#include "fpokit/sae/training/sae_trainer.h"

namespace fpokit::sae {

namespace fs = std::filesystem;

namespace {

std::string sae_folder_name(const std::string& hook, int64_t width, int64_t k, bool sweep_width, bool sweep_k,
                            bool has_k) {
  std::string name = hook;
  if (sweep_width) name += "-w" + std::to_string(width);
  if (sweep_k && has_k) name += "-k" + std::to_string(k);
  return name;
}

// "models/gpt2/" -> "gpt2": the name SAELens records as model_name (for a model from the hub cache,
// the repository's name: ".../models--google--gemma-2-2b/snapshots/<commit>" -> "gemma-2-2b").
std::string model_folder_name(std::string path) {
  if (const auto hub = core::hub_name_of_path(path); hub && hub->path_in_repo.empty())
    return hub->repo_id.substr(hub->repo_id.find('/') + 1);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return fs::path(path).filename().string();
}

}  // namespace

bool run_sae_training(TrainingRunOptions o) {
  o.trainer.validate();  // before anything is loaded or written
  const bool offline = !o.acts.empty();
  if (offline == !o.data.empty())
    throw InputError("give either --data (with --model, harvesting online) or --acts (an `fpokit acts cache` file)");
  if (!offline && o.model_dir.empty()) throw InputError("--data needs --model: the model whose activations to harvest");
  if (o.hooks.empty() && !offline) throw InputError("give the hook to train on, e.g. --hook blocks.6.hook_resid_post");
  if (o.widths.empty() || o.ks.empty()) throw InputError("--width and --k need at least one value");
  const core::CheckpointFolder checkpoints(o.out);
  checkpoints.refuse_fresh_start_over(o.resume || o.overwrite_output_dir);
  core::check_output_location(o.out, core::OutputKind::Directory, {o.resume, o.overwrite_output_dir});

  const auto device = lm::parse_device(o.device);
  o.trainer.device = device;
  for (const auto& h : o.hooks) lm::HookName::parse(h);  // a clear error before loading anything

  std::unique_ptr<ActivationSource> source;
  lm::CausalLM model;
  std::shared_ptr<const lm::Tokenizer> tokenizer;
  // What the SAEs' cfg.json records about their data: the cache's own model and context size
  // offline, the resolved --context-size online.
  int64_t context_size = 0;
  std::string model_name;
  if (offline) {
    auto file_source = std::make_unique<ActivationFileSource>(o.acts, o.hooks, device);
    context_size = file_source->reader().info().context_size;
    model_name = model_folder_name(file_source->reader().info().model_name);
    source = std::move(file_source);
  } else {
    std::vector<lm::HookName> hooks;
    for (const auto& h : o.hooks) hooks.push_back(lm::HookName::parse(h));
    tokenizer = lm::Tokenizer::from_directory(o.model_dir);
    model = lm::load_model(o.model_dir, {device, lm::parse_dtype(o.model_dtype)});
    model->eval();
    auto harvesting = std::make_unique<HarvestingSource>(model, tokenizer, hooks, o.data, o.harvest);
    o.harvest.context_size = context_size = harvesting->options().context_size;
    model_name = model_folder_name(o.model_dir);
    source = std::move(harvesting);
  }

  std::vector<SaeSpec> specs;
  const bool has_k = o.architecture == Architecture::TopK || o.architecture == Architecture::BatchTopK;
  for (size_t h = 0; h < source->hook_names().size(); ++h) {
    for (const auto width : o.widths) {
      for (const auto k : o.ks) {
        SaeSpec s;
        s.hook = h;
        s.name = sae_folder_name(source->hook_names()[h], width, k, o.widths.size() > 1, o.ks.size() > 1, has_k);
        s.config.architecture = o.architecture;
        s.config.d_sae = width;
        s.config.k = has_k ? k : 0;
        s.config.jumprelu_bandwidth = o.jumprelu_bandwidth;
        s.config.model_name = model_name;
        s.config.context_size = context_size;
        specs.push_back(std::move(s));
        if (!has_k) break;  // k does not apply: one SAE per width
      }
    }
  }

  // Whatever instant an earlier run was killed at, --resume continues it (CheckpointFolder).
  bool start_over_existing = o.overwrite_output_dir && !o.resume;
  if (o.resume) {
    bool finished = true;
    for (const auto& s : specs) finished = finished && fs::exists(o.out / s.name / "cfg.json");
    switch (checkpoints.resume_from(finished, std::vector<std::string>{"config.toml", "training_log.jsonl"})) {
      case core::ResumeFrom::Finished:
        core::log::info("--resume: " + o.out.string() + " holds a finished run (its SAEs are written): nothing to do");
        return true;
      case core::ResumeFrom::Start:
        core::log::info(
            "--resume: " + o.out.string() +
            " has no checkpoint yet (the run stopped before its first save): starting from the first token");
        o.resume = false;
        start_over_existing = true;
        break;
      case core::ResumeFrom::Checkpoint: break;
    }
  }
  std::vector<std::string> sae_folders;
  for (const auto& s : specs) sae_folders.push_back(s.name);
  SaeTrainer trainer(o.trainer, specs, *source, o.out);
  if (o.resume) {
    trainer.resume();
  } else {
    trainer.initialize();
  }
  fs::create_directories(o.out);
  // A fresh start over an earlier run: neither its checkpoints (resumed later by mistake) nor its
  // SAEs (taken for this run's, were it killed before its first checkpoint) may stay.
  if (start_over_existing) {
    checkpoints.remove();
    for (const auto& name : sae_folders)
      if (!name.empty()) core::remove_tree(o.out / name);
  }
  if (o.before_first_write) o.before_first_write();
  core::MetricsLog log(o.out / "training_log.jsonl", o.resume ? std::optional<int64_t>(trainer.step()) : std::nullopt,
                       o.report_to_tensorboard ? std::optional<fs::path>(o.out / "runs") : std::nullopt);
  core::ProgressLine progress("sae train", o.trainer.total_tokens, "tok", 30, trainer.tokens());
  if (o.progress) trainer.on_step([&](int64_t tokens) { progress.update(tokens); });
  const bool finished = trainer.run([&](const TrainingProgress& p) {
    nlohmann::json line = {{"step", p.step}, {"tokens", p.tokens}, {"lr", p.lr}, {"tokens_per_s", p.tokens_per_second}};
    std::string metrics;
    for (size_t i = 0; i < p.l0.size(); ++i) {
      // Each SAE is labelled (its folder, hook, width, k), so a sweep's log reads without knowing
      // the order the SAEs were built in.
      const auto& spec = specs[i];
      nlohmann::json sae = {
          {"sae", spec.name}, {"hook", source->hook_names()[spec.hook]}, {"d_sae", spec.config.d_sae}, {"l0", p.l0[i]},
          {"fvu", p.fvu[i]},  {"dead_fraction", p.dead_fraction[i]},     {"loss", p.loss[i]}};
      if (spec.config.k > 0) sae["k"] = spec.config.k;
      line["saes"].push_back(std::move(sae));
      if (i < 2) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "L0 %.1f FVU %.3f dead %.1f%%", p.l0[i], p.fvu[i], 100 * p.dead_fraction[i]);
        if (i > 0) metrics += " ; ";
        if (specs.size() > 1) metrics += spec.name + ": ";
        metrics += buf;
      }
    }
    if (p.l0.size() > 2) metrics += " (+" + std::to_string(p.l0.size() - 2) + " SAEs)";
    log.write(line);
    if (o.progress) progress.update(p.tokens, metrics, true);
  });
  progress.finish();
  if (!finished) return false;
  trainer.save_final();
  // The SAEs are written: the checkpoint has served its purpose, and leaving it would make a
  // later run into the same folder look like an interrupted one.
  core::kill_point("outputs-written");
  checkpoints.remove();
  return true;
}

}  // namespace fpokit::sae
