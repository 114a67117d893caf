#pragma once
// Every knob of SAE training, with the defaults of the recipe each architecture comes from
// (docs/sae.md, 'Training defaults'): Adam(0.9, 0.999), lr 3e-4 (SAELens), gradient clipping at 1,
// 4096-token batches.
#include <cstdint>
#include <optional>
#include <string>

#include <torch/types.h>

#include "fpokit/core/train/lr_schedule.h"
#include "fpokit/sae/model/sae_config.h"

namespace fpokit::sae {

enum class DecoderBiasInit { GeometricMedian, Mean, Zeros };
DecoderBiasInit parse_decoder_bias_init(std::string_view name);  // "geometric_median", "mean", "zeros"
std::string_view decoder_bias_init_name(DecoderBiasInit init);

struct TrainerOptions {
  // Data.
  int64_t total_tokens = 0;  // training tokens (rows) per SAE
  int64_t batch_tokens = 4096;
  int64_t buffer_tokens = 262144;  // mixing-buffer capacity (rows)
  bool loop_data = true;           // start a new epoch when the data ends before total_tokens
  // Read (online: harvest) the next buffer window in the background while training on this one;
  // the same batches either way, a second window in memory (mixing_buffer.h). Unset: on for an
  // accelerator (CUDA: the forward and the SAE step overlap on two streams), off on the CPU (both
  // halves already use every core: 0.91-1.06x measured, docs/BENCHMARKS.md).
  std::optional<bool> prefetch_buffer;
  uint64_t seed = 0;

  // Optimisation.
  double lr = 3e-4;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;
  core::LrScheduler lr_scheduler = core::LrScheduler::Constant;
  int64_t lr_warmup_steps = 0;
  int64_t lr_decay_steps = 0;  // final linear decay to 0
  double lr_end = 0;           // cosine floor (<= 0: lr / 10)
  double max_grad_norm = 1.0;  // <= 0: no clipping

  // Losses.
  double l1_coefficient = 5.0;   // ReLU
  int64_t l1_warmup_steps = -1;  // ReLU: λ ramps linearly from 0; -1: 5% of the steps (Anthropic)
  double l0_coefficient = 1.0;   // JumpReLU
  double jumprelu_initial_threshold = 0.001;
  double auxk_coefficient = 1.0 / 32;  // TopK/BatchTopK
  int64_t k_aux = 0;                   // <= 0: d_in / 2
  int64_t dead_tokens = 10'000'000;    // a latent is dead after this many tokens without firing

  // Initialisation and normalisation.
  DecoderBiasInit b_dec_init = DecoderBiasInit::GeometricMedian;
  int64_t init_sample_tokens = 16384;  // rows used for b_dec init and the norm estimate
  ActivationNormalization normalization = ActivationNormalization::None;

  // Execution.
  torch::Device device = torch::kCPU;
  bool autocast_bf16 = false;  // bf16 autocast for the SAE matmuls (CUDA only)
  bool sparse_kernels = true;  // TopK/BatchTopK: sparse decoder and encoder backward

  // Output.
  int64_t checkpoint_every_tokens = 0;  // 0: only at the end
  int64_t log_every_steps = 50;
  int64_t stop_after_tokens = 0;  // > 0: stop (after a checkpoint) once this many tokens are done

  // ConfigError naming the option (its CLI spelling) for a value outside its range: a negative
  // learning rate, coefficient, step count or interval, Adam betas outside [0, 1), ... Values with
  // a documented meaning (max_grad_norm 0: no clipping, k_aux 0: d_in/2, l1_warmup_steps -1: 5%)
  // stay valid.
  void validate() const;
};

// One SAE of a run: its architecture and size, and which source hook it reads.
struct SaeSpec {
  std::string name;  // output sub-folder
  size_t hook = 0;   // index into the source's hooks
  SaeConfig config;  // d_in must match the hook
};

}  // namespace fpokit::sae
