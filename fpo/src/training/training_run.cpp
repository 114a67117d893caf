#include "fpokit/fpo/training/training_run.h"

#include <cstdio>
#include <ctime>
#include <optional>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/fault/kill_point.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/content_fingerprint.h"
#include "fpokit/core/io/output_location.h"
#include "fpokit/core/io/sha256.h"
#include "fpokit/core/log/log.h"
#include "fpokit/core/log/progress_line.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/core/train/metrics_log.h"
#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/kto_pairs.h"
#include "fpokit/fpo/data/preference_dataset.h"
#include "fpokit/fpo/training/reference_cache.h"
#include "fpokit/fpo/training/reference_fingerprint.h"
#include "fpokit/fpo/training/run_inputs.h"
#include "fpokit/lm/checkpoint/save_model.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/io/sae_io.h"

namespace fpokit::fpo {

namespace fs = std::filesystem;

namespace {

// Moves round(fraction · N) pairs (at least 1), chosen by a permutation seeded with `seed`, out of
// `data` into the returned eval set; both keep their file order.
LoadedPairs split_off(LoadedPairs& data, double fraction, uint64_t seed) {
  const auto n = static_cast<int64_t>(data.pairs.size());
  if (!(fraction > 0 && fraction < 1))
    throw InputError("--eval-split must be in (0, 1), got " + std::to_string(fraction));
  const int64_t n_eval = std::max<int64_t>(1, std::llround(fraction * static_cast<double>(n)));
  if (n_eval >= n)
    throw InputError("--eval-split " + std::to_string(fraction) + " leaves no training data from " + std::to_string(n) +
                     " examples");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x5eed5eedull);
  const auto perm = torch::randperm(n, gen, torch::kInt64);
  std::vector<uint8_t> is_eval(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n_eval; ++i) is_eval[static_cast<size_t>(perm[i].item<int64_t>())] = 1;
  LoadedPairs train, eval;
  for (int64_t i = 0; i < n; ++i) {
    auto& to = is_eval[static_cast<size_t>(i)] ? eval : train;
    to.pairs.push_back(std::move(data.pairs[static_cast<size_t>(i)]));
    if (!data.kto_labels.empty()) to.kto_labels.push_back(data.kto_labels[static_cast<size_t>(i)]);
  }
  data = std::move(train);
  return eval;
}

}  // namespace

bool run_preference_training(PreferenceRunOptions o) {
  if (o.model_dir.empty() || o.data.empty()) throw InputError("--model and --data are required");
  const core::CheckpointFolder checkpoints(o.out);
  checkpoints.refuse_fresh_start_over(o.resume || o.overwrite_output_dir);
  core::check_output_location(o.out, core::OutputKind::Directory, {o.resume, o.overwrite_output_dir});
  // Whatever instant an earlier run was killed at, --resume continues it (CheckpointFolder).
  bool start_over_existing = o.overwrite_output_dir && !o.resume;
  if (o.resume) {
    const bool finished =
        fs::exists(o.out / "model" / "config.json") || fs::exists(o.out / "adapter" / "adapter_config.json");
    switch (checkpoints.resume_from(finished, std::vector<std::string>{"config.toml", "metrics.jsonl"})) {
      case core::ResumeFrom::Finished:
        core::log::info("--resume: " + o.out.string() +
                        " holds a finished run (its model or adapter is written): nothing to do");
        return true;
      case core::ResumeFrom::Start:
        core::log::info("--resume: " + o.out.string() +
                        " has no checkpoint yet (the run stopped before its first save): starting from step 0");
        o.resume = false;
        start_over_existing = true;
        break;
      case core::ResumeFrom::Checkpoint: break;
    }
  }
  const auto method = o.trainer.method;
  const auto& traits = method_traits(method);
  const bool is_fpo = traits.needs_sae;
  if (is_fpo && o.sae.empty())
    throw InputError("--method fpo needs --sae DIR (the SAE whose features are constrained)");
  o.trainer.validate();  // before anything is loaded or written

  const auto tokenizer = lm::Tokenizer::from_directory(o.model_dir);
  auto data_options = preference_data_options(o.chat_template, o.model_dir, *tokenizer);
  data_options.fields = o.fields;
  if (data_options.chat_template && data_options.chat_template->reads_clock()) {
    const std::time_t now = std::time(nullptr);
    char day[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", std::localtime(&now));
    o.chat_template_date = day;
    core::log::warning("the chat template (" + o.chat_template + ") writes today's date into the prompts, as " +
                       "transformers renders it: this run's data and reference cache hold " + o.chat_template_date +
                       ", and a --resume on another day is refused");
  }
  // KTO reads unpaired prompt/completion/label rows; its examples travel as (example, KL
  // sequence) pairs (kto_pairs.h), so the rest of the run is the same for every method.
  const bool kto = traits.unpaired_labels;
  if (o.packing && method != Method::Sft)
    throw InputError("--packing packs plain text for language modelling: it applies to --method sft only, not " +
                     std::string(traits.name));
  const auto read_data = [&](const std::string& path, const std::string& split, const std::string& what) {
    if (o.packing)
      return load_packed_text(path, split, o.fields.text, *tokenizer, o.tokenization.max_length.value_or(1024), what);
    auto options = data_options;
    options.split = split;
    return load_pairs(path, method, options, *tokenizer, o.tokenization, o.trainer.per_device_train_batch_size, what);
  };
  auto train_data = read_data(o.data, o.split, "");
  LoadedPairs eval_data;
  if (!o.eval_data.empty() && o.eval_split > 0) throw InputError("give --eval-data or --eval-split, not both");
  if (!o.eval_data.empty()) {
    eval_data = read_data(o.eval_data, o.eval_data_split, "eval ");
  } else if (o.eval_split > 0) {
    eval_data = split_off(train_data, o.eval_split, o.trainer.seed);
    core::log::info("eval: " + std::to_string(eval_data.pairs.size()) + " of the " +
                    std::to_string(train_data.pairs.size() + eval_data.pairs.size()) + (kto ? " examples" : " pairs") +
                    " held out (--eval-split " + (std::ostringstream() << o.eval_split).str() + ")");
  }

  const auto device = lm::parse_device(o.device);
  lm::LoadOptions load{device, lm::parse_dtype(o.dtype)};
  // Half precision: a full fine-tune keeps float32 master weights and runs the forward passes
  // (policy and reference alike, so that they agree at step 0) under autocast, because AdamW's
  // steps at preference-tuning learning rates (~5e-7 relative) are far below bfloat16's resolution
  // (2^-8) and would be rounded away in bf16 weights. A LoRA run trains float32 adapters on a
  // frozen base that stays in half precision.
  const auto model_config = lm::load_model_config(o.model_dir);
  const auto compute_dtype = lm::resolve_dtype(load, model_config);
  if (compute_dtype != torch::kFloat32 && !o.lora) {
    o.trainer.autocast_dtype = compute_dtype;
    load.dtype = torch::kFloat32;
  }
  check_pairs_fit(train_data.pairs, model_config);
  check_pairs_fit(eval_data.pairs, model_config);
  auto policy = lm::load_model(o.model_dir, load);
  const std::string ref_dir = o.ref_model_dir.empty() ? o.model_dir : o.ref_model_dir;
  o.trainer.device = device;
  o.trainer.pad_id = padding_token_id(*tokenizer);
  o.trainer.output_dir = o.out;

  LoadedProbe fpo_probe;
  if (is_fpo)
    fpo_probe = load_feature_probe(o.sae, o.fpo_hook, *policy, o.model_dir, device, o.trainer.loss.fpo.variant);
  const auto& probe = fpo_probe.probe;

  if (o.merge_lora && !o.lora) throw InputError("--merge needs a LoRA run (--lora-r R)");
  std::optional<lm::LoraAdapters> adapters;
  if (o.lora) {
    o.lora->seed = o.trainer.seed;
    adapters = lm::LoraAdapters::attach(*policy, *o.lora);
  }
  // A resumed run must read the same data the same way, from the same models (and SAE).
  const auto content_hash = [](const std::string& path, bool recursive = true) {
    return core::sha256_hex(core::content_fingerprint(path, recursive).dump()).substr(0, 16);
  };
  const auto& tok = o.tokenization;
  o.trainer.run_identity = {{"max_length", tok.max_length ? *tok.max_length : -1},
                            {"max_prompt_length", tok.max_prompt_length ? *tok.max_prompt_length : -1},
                            {"truncation_mode",
                             tok.truncation_mode == TruncationMode::kKeepEnd ? "keep_end" : "keep_start"},
                            {"chat_template", o.chat_template},
                            {"data_content", content_hash(o.data)},
                            {"model_content", content_hash(o.model_dir, false)}};
  if (!o.eval_data.empty()) o.trainer.run_identity["eval_data_content"] = content_hash(o.eval_data);
  for (auto& [key, value] : data_selection_identity(o).items()) o.trainer.run_identity[key] = value;
  if (o.eval_split > 0) o.trainer.run_identity["eval_split"] = o.eval_split;
  if (o.packing) o.trainer.run_identity["packing"] = true;
  if (traits.needs_reference && !o.ref_model_dir.empty())
    o.trainer.run_identity["ref_model_content"] = content_hash(o.ref_model_dir, false);
  if (is_fpo) {
    o.trainer.run_identity["sae_content"] = content_hash(o.sae);
    o.trainer.run_identity["fpo_hook"] = o.fpo_hook;
  }
  PreferenceTrainer trainer(o.trainer, policy, std::move(train_data.pairs), probe);
  if (!eval_data.pairs.empty()) trainer.set_eval_pairs(std::move(eval_data.pairs));
  if (kto) {
    auto labels = std::move(train_data.kto_labels);
    labels.insert(labels.end(), eval_data.kto_labels.begin(), eval_data.kto_labels.end());
    trainer.use_kto_labels(std::move(labels));
  }
  if (adapters) trainer.use_lora(&*adapters);
  const bool needs_reference = traits.needs_reference;
  const bool online_reference = reference_runs_online(o.trainer);
  const fs::path cache_path = o.reference_cache.empty() ? o.out / "reference_cache.h5" : fs::path(o.reference_cache);
  const auto fingerprint = reference_fingerprint(o, ref_dir, is_fpo);

  if (o.resume) trainer.check_checkpoint();

  // Validated: from here on the output folder is written.
  fs::create_directories(o.out);
  // A fresh start over an earlier run: neither its checkpoints (resumed later by mistake) nor its
  // final outputs (taken for this run's, were it killed before its first checkpoint) may stay.
  if (start_over_existing) {
    checkpoints.remove();
    for (const char* output : {"model", "adapter", "fpo_selection.json"}) core::remove_tree(o.out / output);
  }
  if (o.before_first_write) o.before_first_write();
  if (needs_reference) {
    std::optional<PreferenceTrainer::ReferenceValues> cached;
    if (!online_reference) cached = load_reference_cache(cache_path, fingerprint);
    if (cached) {
      core::log::info("reference: reusing " + cache_path.string());
      trainer.set_reference_values(std::move(*cached));
    } else {
      core::log::info(online_reference && is_fpo
                          ? "reference: " + ref_dir + " runs online, one forward per batch (--fpo-variant released)"
                          : "reference: one pass over the data with " + ref_dir);
      // A LoRA run's reference is its own base (adapters off) unless --ref-model names another model.
      auto reference = adapters && o.ref_model_dir.empty() ? policy : lm::load_model(ref_dir, load);
      trainer.precompute_reference(reference);
      if (!online_reference) save_reference_cache(cache_path, trainer.reference_values(), fingerprint);
    }
  }
  if (o.resume) trainer.resume();

  core::MetricsLog metrics(o.out / "metrics.jsonl", o.resume ? std::optional<int64_t>(trainer.step()) : std::nullopt,
                           o.report_to_tensorboard ? std::optional<fs::path>(o.out / "runs") : std::nullopt);
  core::ProgressLine progress("train " + std::string(method_name(method)), trainer.total_steps(), "steps", 30,
                              trainer.step());
  if (o.observe_policy) o.observe_policy(*policy, trainer.step(), trainer.total_steps());
  if (o.progress || o.observe_policy)
    trainer.on_step([&](int64_t step) {
      if (o.observe_policy) o.observe_policy(*policy, step, trainer.total_steps());
      if (o.progress) progress.update(step);
    });
  const bool finished = trainer.train([&](const StepMetrics& m) {
    nlohmann::json line = {{"step", m.step}};
    for (const auto& [k, v] : m.values) line[k] = v;
    metrics.write(line);
    if (m.values.count("eval_loss")) {  // an evaluation: its own stderr line, not the progress line
      const auto acc = m.values.find("eval_rewards/accuracies");
      progress.message("eval at step " + std::to_string(m.step) + ": loss " + std::to_string(m.values.at("eval_loss")) +
                       (acc != m.values.end() ? ", reward accuracy " + std::to_string(acc->second) : std::string()));
      return;
    }
    const auto value = [&](const char* name) { return m.values.count(name) ? m.values.at(name) : 0.0; };
    char buf[160];
    if (m.values.count("rewards/accuracies")) {
      std::snprintf(buf, sizeof buf, "loss %.4f acc %.2f margin %.3f lr %.2e", value("loss"),
                    value("rewards/accuracies"), value("rewards/margins"), value("lr"));
    } else {  // SFT has no reward: the loss is the per-token cross-entropy
      std::snprintf(buf, sizeof buf, "loss %.4f lr %.2e", value("loss"), value("lr"));
    }
    if (o.progress) progress.update(m.step, buf, true);
  });
  progress.finish();
  if (!finished) return false;
  if (adapters) {
    adapters->save_peft(o.out / "adapter", fs::absolute(o.model_dir).string());
    if (o.merge_lora) {
      adapters->merge();
      lm::save_pretrained(*policy, o.model_dir, o.out / "model");
    }
  } else {
    if (o.trainer.autocast_dtype) policy->to(*o.trainer.autocast_dtype);  // saved in the dtype asked for
    lm::save_pretrained(*policy, o.model_dir, o.out / "model");
  }
  if (is_fpo) {
    // Which features FPO constrained, and how often: read by `fpokit drift` (constrained vs
    // unconstrained drift).
    const auto& sel = trainer.feature_selection_counts();
    const auto counts =
        sel.counts.defined() ? sel.counts.contiguous() : torch::zeros({fpo_probe.sae->config().d_sae}, torch::kInt64);
    nlohmann::json j{{"sae", fs::absolute(o.sae).string()},
                     {"hook", o.fpo_hook},
                     {"top_k", o.trainer.loss.fpo.top_k},
                     {"variant", std::string(fpo_variant_name(o.trainer.loss.fpo.variant))},
                     {"selections", sel.selections},
                     {"counts",
                      std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel())},
                     {"description",
                      "counts[f]: how many of the `selections` top-k sets (one per training pair, "
                      "chosen and rejected, per epoch) contained feature f"}};
    core::write_text_file_atomically(o.out / "fpo_selection.json", j.dump() + "\n");
  }
  core::kill_point("outputs-written");
  checkpoints.remove();
  return true;
}

}  // namespace fpokit::fpo
