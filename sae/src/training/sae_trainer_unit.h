#pragma once
// The per-SAE state of a SaeTrainer (private to sae/src): the module, its Adam optimizer, the
// dead-latent counters and the running statistics for reports.
#include <filesystem>
#include <memory>

#include <torch/optim/adam.h>
#include <torch/types.h>

#include "fpokit/sae/training/sae_trainer.h"

namespace fpokit::sae {

struct SaeTrainer::Unit {
  Unit(SaeSpec spec, const TrainerOptions& options);

  // Activation scale, b_dec and weights from a sample of raw activations [n, d_in].
  void initialize(const torch::Tensor& sample, uint64_t seed, const TrainerOptions& options);
  void step(const torch::Tensor& raw_x, double lr, int64_t step, int64_t total_steps, const TrainerOptions& options);

  struct Window {
    double l0 = 0, fvu = 0, loss = 0;
  };
  Window take_window();  // statistics since the last call (one host sync)
  // Whether every loss since the last take_window() was finite (one host sync).
  bool window_finite() const;
  double dead_fraction(int64_t dead_tokens) const;
  torch::Tensor log_feature_density() const;  // log10(density + 1e-10) [d_sae], float32 CPU
  void save_final(const std::filesystem::path& dir) const;

  // Checkpoint state: everything but the weights and Adam moments, as tensors.
  std::vector<std::pair<std::string, torch::Tensor>> state_tensors() const;
  void load_state_tensors(const std::function<torch::Tensor(const std::string&)>& get);

  bool unit_norm_decoder() const { return spec.config.architecture != Architecture::ReLU; }

  SaeSpec spec;
  SparseAutoencoder sae;
  std::unique_ptr<torch::optim::Adam> optimizer;
  torch::Tensor tokens_since_fired;  // int64 [d_sae]
  // Firing counts for the feature-density vector: the current window of dead_tokens tokens and
  // the previous one.
  torch::Tensor density_counts, density_counts_prev;
  int64_t density_tokens = 0, density_tokens_prev = 0;
  // Report accumulators (device scalars; read once per report).
  torch::Tensor acc_loss, acc_l0, acc_err, acc_var;
  int64_t acc_steps = 0, acc_tokens = 0;
};

}  // namespace fpokit::sae
