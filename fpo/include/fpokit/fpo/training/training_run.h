#pragma once
// A whole `fpokit train` run: data → tokenised pairs → policy (+ reference, + SAE for FPO) →
// offline reference (cached in HDF5, keyed by a fingerprint) → PreferenceTrainer → an HF model
// directory. Everything is validated before the first write to the output folder.
//
// Output folder:
//   <out>/model/              HF model directory (safetensors, config, tokenizer files); with LoRA
//                             only under --merge (the base with the adapters merged in)
//   <out>/adapter/            LoRA runs: PEFT adapter (adapter_config.json, adapter_model.safetensors)
//   <out>/metrics.jsonl       one JSON object per logging step, TRL metric names
//   <out>/config.toml         resolved configuration (written by the CLI)
//   <out>/reference_cache.h5  the offline reference (unless --reference-cache names another path)
//   <out>/checkpoint/         the latest checkpoint while training
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "fpokit/fpo/data/preference_fields.h"
#include "fpokit/fpo/data/preference_tokenizer.h"
#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/lora.h"

namespace fpokit::fpo {

struct PreferenceRunOptions {
  std::string model_dir;
  std::string ref_model_dir;  // empty: the starting model
  std::string data;           // a dataset file, or a dataset folder (read its `split`)
  std::string split;          // --split; empty: a file, or a folder's "train" (core/dataset/dataset_split.h)
  PreferenceFields fields;    // the record fields of prompt, chosen, ... (--prompt-field, ...)
  std::string chat_template;  // empty: detect from the tokenizer config (conversational data)
  // sft only: pack the plain-text rows of data (and eval_data) into rows of tokenization.max_length
  // tokens, as SAELens packs a corpus (run_inputs.h, load_packed_text), instead of one row each.
  bool packing = false;
  std::string device = "cpu";
  std::string dtype = "auto";
  PreferenceTokenizerOptions tokenization;
  PreferenceTrainerOptions trainer;
  // FPO
  std::string sae;
  std::string fpo_hook;         // empty: the SAE's own hook
  std::string reference_cache;  // empty: <out>/reference_cache.h5
  // Evaluation: a held-out file, or a seeded fraction of --data (trainer.eval_steps says when).
  std::string eval_data;
  std::string eval_data_split;  // the split of an --eval-data folder (--eval-data-split)
  // Set by the run, not an option: the local date its chat template rendered the data on, when
  // the template reads the clock (strftime_now). Part of the run's identity, so that a resume on
  // another day, whose prompts would carry another date, is refused instead of silently mixing.
  std::string chat_template_date;
  double eval_split = 0.0;
  // LoRA: train adapters on a frozen base. The reference (when it is the starting model) is the
  // policy with its adapters switched off, so no second copy of the model is loaded.
  std::optional<lm::LoraOptions> lora;
  bool merge_lora = false;  // also write <out>/model with the adapters merged
  std::filesystem::path out;
  bool resume = false;
  // Start afresh in an `out` that holds an earlier run's outputs (its checkpoint is discarded);
  // without it such an `out` is refused (core/io/output_location.h).
  bool overwrite_output_dir = false;
  bool progress = true;
  // --report-to tensorboard: the log's lines also as TensorBoard scalars in <out>/runs/
  // (core/log/tensorboard_writer.h), with the same names.
  bool report_to_tensorboard = false;
  std::function<void()> before_first_write;
  // Sees the policy after `step` of `total_steps` optimizer steps: once before training (step 0, or
  // the step a resumed run continues from, after its checkpoint is loaded) and after every
  // optimizer step, before that step's checkpoint. `fpokit train --drift-every` records the drift
  // timeline through it (fpo does not depend on analysis). It must leave the policy as it found it
  // (weights, gradients, train/eval mode) and draw from no random generator.
  std::function<void(lm::CausalLMImpl& policy, int64_t step, int64_t total_steps)> observe_policy;
};

// Returns false when stopped early (stop_after_steps). InputError for bad input, before any
// write to `out`.
bool run_preference_training(PreferenceRunOptions options);

}  // namespace fpokit::fpo
