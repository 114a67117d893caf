#pragma once
// Trains one or several SAEs from one activation stream (several layers from one model pass, or a
// sweep of widths/k on one hook). Per step and per SAE:
//   x ← normalise(batch of the SAE's hook)                       (training space)
//   loss = reconstruction + sparsity (ReLU: decoder-norm-weighted L1 with warm-up; JumpReLU: L0)
//          + AuxK (TopK/BatchTopK, latents dead for dead_tokens tokens)
//   backward; unit-norm recipes (TopK, BatchTopK, JumpReLU) drop the decoder gradient's radial
//   component; clip; Adam step at the scheduled lr; unit-norm recipes renormalise decoder rows;
//   BatchTopK updates its inference threshold.
// Checkpoints (every checkpoint_every_tokens, atomically) hold the weights, Adam moments, dead
// counters, step and the mixing-buffer position; resume() continues with bitwise the same
// batches and, on CPU, bitwise the same weights.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/adam.h>

#include "fpokit/sae/data/activation_source.h"
#include "fpokit/sae/data/mixing_buffer.h"
#include "fpokit/sae/eval/sae_metrics.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "fpokit/sae/training/trainer_options.h"

namespace fpokit::sae {

struct TrainingProgress {
  int64_t step = 0;
  int64_t tokens = 0;  // per SAE
  int64_t total_tokens = 0;
  double tokens_per_second = 0;
  double lr = 0;
  // Per SAE, over the steps since the last report (training space).
  std::vector<double> l0, fvu, dead_fraction, loss;
};

class SaeTrainer {
 public:
  // Throws InputError when a spec's d_in does not match its hook's width, or the options are
  // inconsistent. The source must outlive the trainer.
  SaeTrainer(TrainerOptions options, std::vector<SaeSpec> specs, ActivationSource& source,
             std::filesystem::path out_dir);
  ~SaeTrainer();

  // Fresh start: initialises weights (b_dec, activation scale) from the first init_sample_tokens
  // rows of the source, then rewinds it.
  void initialize();
  // Continues from out_dir/checkpoint. Throws InputError when there is none or it belongs to a
  // run with other settings.
  void resume();
  bool has_checkpoint() const;

  // Trains until total_tokens (or stop_after_tokens). `report` is called every log_every_steps
  // steps and at the end. Returns true when training finished (false: stopped early).
  bool run(const std::function<void(const TrainingProgress&)>& report = {});

  // Writes each SAE in the SAELens layout to out_dir/<name> (scale folded, BatchTopK as JumpReLU)
  // with its feature-density vector (sparsity.safetensors, log10 density over the last
  // dead_tokens-window, as SAELens).
  void save_final() const;
  void save_checkpoint() const;

  // Changes where run() stops early (0: run to the end), e.g. to time steps after a warm-up.
  void set_stop_after_tokens(int64_t tokens) { options_.stop_after_tokens = tokens; }
  // Called after every step with the tokens trained so far, whatever the logging cadence (the
  // progress line).
  void on_step(std::function<void(int64_t tokens)> listener) { step_listener_ = std::move(listener); }
  int64_t step() const { return step_; }
  int64_t tokens() const { return tokens_; }
  int64_t total_steps() const;
  size_t num_saes() const { return units_.size(); }
  SparseAutoencoderImpl& sae(size_t i);
  const TrainerOptions& options() const { return options_; }
  // The training settings that a checkpoint must share to be resumed (data, sizes, seed, ...).
  nlohmann::json fingerprint() const;

 private:
  struct Unit;
  void train_step(Unit& unit, const torch::Tensor& raw_x, TrainingProgress* window);

  TrainerOptions options_;
  ActivationSource& source_;
  std::filesystem::path out_dir_;
  MixingBuffer buffer_;
  std::vector<std::unique_ptr<Unit>> units_;
  int64_t step_ = 0;
  int64_t tokens_ = 0;
  std::function<void(int64_t)> step_listener_;
};

}  // namespace fpokit::sae
