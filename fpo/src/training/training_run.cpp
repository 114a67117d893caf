#include "fpokit/fpo/training/training_run.h"

#include <cstdio>
#include <optional>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/fault/kill_point.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/output_location.h"
#include "fpokit/core/log/log.h"
#include "fpokit/core/log/progress_line.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/core/train/metrics_log.h"
#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/kto_pairs.h"
#include "fpokit/fpo/data/preference_dataset.h"
#include "fpokit/fpo/training/reference_cache.h"
#include "fpokit/fpo/training/reference_fingerprint.h"
#include "fpokit/lm/checkpoint/save_model.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/io/sae_io.h"

namespace fpokit::fpo {

namespace fs = std::filesystem;

namespace {

struct TrainingPairs {
  std::vector<TokenizedPair> pairs;
  std::vector<uint8_t> kto_labels;  // KTO only
};

TrainingPairs load_pairs(const std::string& path, bool kto, const PreferenceDataOptions& data_options,
                         const lm::Tokenizer& tokenizer, const PreferenceTokenizerOptions& tokenization,
                         int64_t kto_block, const std::string& what) {
  TrainingPairs out;
  PreferenceDataStats stats;
  if (kto) {
    auto data = tokenize_kto_data(read_kto_jsonl(path, data_options), tokenizer, tokenization);
    if (!data.examples.empty()) {
      auto kp = kto_training_pairs(data.examples, kto_block);
      out.pairs = std::move(kp.pairs);
      out.kto_labels = std::move(kp.desirable);
    }
    stats = data.stats;
  } else {
    auto data = tokenize_preference_data(read_preference_jsonl(path, data_options), tokenizer, tokenization);
    out.pairs = std::move(data.pairs);
    stats = data.stats;
  }
  core::log::info(what + "data: " + stats.summary());
  if (out.pairs.empty())
    throw InputError("no usable " + std::string(kto ? "examples" : "pairs") + " in " + path + " (" + stats.summary() +
                     ")");
  return out;
}

// Moves round(fraction · N) pairs (at least 1), chosen by a permutation seeded with `seed`, out of
// `data` into the returned eval set; both keep their file order.
TrainingPairs split_off(TrainingPairs& data, double fraction, uint64_t seed) {
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
  TrainingPairs train, eval;
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
  o.trainer.loss.validate(method);

  const auto tokenizer = lm::Tokenizer::from_directory(o.model_dir);
  PreferenceDataOptions data_options;
  if (!o.chat_template.empty()) {
    data_options.chat_template.emplace(parse_chat_template(o.chat_template), chat_template_tokens(*tokenizer));
  } else if (const auto detected = detect_chat_template(o.model_dir)) {
    data_options.chat_template.emplace(*detected, chat_template_tokens(*tokenizer));
    o.chat_template = std::string(chat_template_name(*detected));
  }
  // KTO reads unpaired prompt/completion/label rows; its examples travel as (example, KL
  // sequence) pairs (kto_pairs.h), so the rest of the run is the same for every method.
  const bool kto = traits.unpaired_labels;
  auto train_data =
      load_pairs(o.data, kto, data_options, *tokenizer, o.tokenization, o.trainer.per_device_train_batch_size, "");
  TrainingPairs eval_data;
  if (!o.eval_data.empty() && o.eval_split > 0) throw InputError("give --eval-data or --eval-split, not both");
  if (!o.eval_data.empty()) {
    eval_data = load_pairs(o.eval_data, kto, data_options, *tokenizer, o.tokenization,
                           o.trainer.per_device_train_batch_size, "eval ");
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
  // --max-length is a cap, not a length: what must fit the model is the longest sequence it lets through.
  for (const auto* pairs : {&train_data.pairs, &eval_data.pairs}) {
    for (const auto& p : *pairs) {
      const auto longest = static_cast<int64_t>(std::max(p.chosen.input_ids.size(), p.rejected.input_ids.size()));
      if (model_config.max_position_embeddings > 0 && longest > model_config.max_position_embeddings)
        throw InputError("line " + std::to_string(p.line) + " of the data has a sequence of " +
                         std::to_string(longest) +
                         " tokens after truncation to --max-length, longer than the model's max_position_embeddings (" +
                         std::to_string(model_config.max_position_embeddings) + ", " + model_config.source.string() +
                         "): give --max-length " + std::to_string(model_config.max_position_embeddings) + " or less");
    }
  }
  auto policy = lm::load_model(o.model_dir, load);
  const std::string ref_dir = o.ref_model_dir.empty() ? o.model_dir : o.ref_model_dir;
  o.trainer.device = device;
  o.trainer.pad_id = padding_token_id(*tokenizer);
  o.trainer.output_dir = o.out;

  sae::SparseAutoencoder sae_module{nullptr};
  FeatureProbe probe;
  if (is_fpo) {
    sae_module = sae::load_sae(o.sae);
    if (o.fpo_hook.empty()) o.fpo_hook = sae_module->config().hook_name;
    if (o.fpo_hook.empty()) throw InputError(o.sae + " does not say which hook it was trained on: give --fpo-hook");
    const auto hook = lm::HookName::parse(o.fpo_hook);
    lm::Hooks check;
    check.capture(hook);
    check.validate(policy->config(), policy->has_resid_mid());
    if (sae_module->config().d_in != policy->config().hidden_size)
      throw InputError("the SAE " + o.sae + " has d_in " + std::to_string(sae_module->config().d_in) + " but " +
                       o.fpo_hook + " of " + o.model_dir + " is " + std::to_string(policy->config().hidden_size) +
                       " wide: it was trained on another model");
    sae_module->to(device);
    sae_module->eval();
    for (auto& p : sae_module->parameters()) p.set_requires_grad(false);
    probe = {sae_module.get(), hook, o.trainer.loss.fpo.variant};
  }

  if (o.merge_lora && !o.lora) throw InputError("--merge needs a LoRA run (--lora-r R)");
  std::optional<lm::LoraAdapters> adapters;
  if (o.lora) {
    o.lora->seed = o.trainer.seed;
    adapters = lm::LoraAdapters::attach(*policy, *o.lora);
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

  core::MetricsLog metrics(o.out / "metrics.jsonl", o.resume ? std::optional<int64_t>(trainer.step()) : std::nullopt);
  core::ProgressLine progress("train " + std::string(method_name(method)), trainer.total_steps(), "steps", 30,
                              trainer.step());
  if (o.progress) trainer.on_step([&](int64_t step) { progress.update(step); });
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
    char buf[160];
    std::snprintf(buf, sizeof buf, "loss %.4f acc %.2f margin %.3f lr %.2e",
                  m.values.count("loss") ? m.values.at("loss") : 0.0,
                  m.values.count("rewards/accuracies") ? m.values.at("rewards/accuracies") : 0.0,
                  m.values.count("rewards/margins") ? m.values.at("rewards/margins") : 0.0,
                  m.values.count("lr") ? m.values.at("lr") : 0.0);
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
        sel.counts.defined() ? sel.counts.contiguous() : torch::zeros({sae_module->config().d_sae}, torch::kInt64);
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
