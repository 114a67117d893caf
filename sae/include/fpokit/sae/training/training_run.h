#pragma once
// A whole `fpokit sae train` run: builds the activation source (a model harvested online, or an
// `acts cache` file), one SAE per (hook, width, k) combination, trains them together from the
// same stream, logs, checkpoints and writes the SAEs. The CLI only fills this struct.
//
// Output folder:
//   <out>/<name>/cfg.json, sae_weights.safetensors, sparsity.safetensors   one per SAE
//   <out>/config.toml          the resolved configuration (written by the CLI)
//   <out>/training_log.jsonl   one JSON object per log step
//   <out>/checkpoint/          the latest checkpoint (see sae_trainer.h)
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fpokit/sae/data/harvesting_source.h"
#include "fpokit/sae/training/trainer_options.h"

namespace fpokit::sae {

struct TrainingRunOptions {
  // Data: either model_dir + data (online) or acts (offline).
  std::string model_dir;
  std::string device = "cpu";  // model and SAE device
  std::string model_dtype = "auto";
  std::string data;
  std::string acts;
  HarvestOptions harvest;

  // SAEs: one per hook × width × k.
  std::vector<std::string> hooks;
  Architecture architecture = Architecture::TopK;
  std::vector<int64_t> widths{16384};
  std::vector<int64_t> ks{64};
  double jumprelu_bandwidth = 0.05;

  TrainerOptions trainer;
  std::filesystem::path out;
  bool resume = false;
  // Start afresh in an `out` that holds an earlier run's outputs (its checkpoint is discarded);
  // without it such an `out` is refused (core/io/output_location.h).
  bool overwrite_output_dir = false;
  bool progress = true;
  // --report-to tensorboard: the log's lines also as TensorBoard scalars in <out>/runs/
  // (core/log/tensorboard_writer.h), with the same names.
  bool report_to_tensorboard = false;
  // Called once everything is validated, right before the first write to `out` (the CLI saves
  // config.toml there).
  std::function<void()> before_first_write;
};

// Returns false when the run stopped early (stop_after_tokens), true when it finished. Throws
// InputError for bad input before anything is written to `out`.
bool run_sae_training(TrainingRunOptions options);

}  // namespace fpokit::sae
