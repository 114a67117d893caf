#pragma once
// The SAE trainer's parameter update in two passes over memory instead of about twenty.
//
// After the backward the trainer (1) removes from each decoder row's gradient its component along
// the row (unit-norm decoders), (2) clips the global gradient norm, (3) takes an Adam step and
// (4) renormalises the decoder rows. As separate LibTorch ops that is some twenty sweeps over
// 2·d·F floats and several temporaries of that size, which at SAE widths costs as much as the
// encoder product itself on a CPU. Here:
//   pass 1: per decoder row, ‖w‖ and g·w (the projection), and the squared norm of the projected
//           gradients of every parameter;
//   pass 2: per element, the projected and clipped gradient, Adam's moments and update in
//           torch::optim::Adam's formula (its own state tensors, so checkpoints are unchanged),
//           and per decoder row the renormalisation while the row is still in cache.
// The Adam arithmetic is torch::optim::Adam's, operation for operation in float32; the
// projection and the norm differ from the unfused ops only in the order of their sums.
// CPU float32 parameters only; elsewhere the trainer runs the unfused ops.
#include <torch/optim/adam.h>

#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::sae {

struct UpdateSettings {
  double lr = 0;
  double max_grad_norm = 0;  // <= 0: no clipping
  bool unit_norm_decoder = true;
};

// Whether fused_update can run on these parameters (CPU, float32, contiguous, plain Adam).
bool can_fuse_update(const SparseAutoencoderImpl& sae, const torch::optim::Adam& adam);

// Steps (1)–(4) above on every parameter with a gradient. Returns the gradient norm after the
// projection, before clipping (what clip_grad_norm returns).
double fused_update(SparseAutoencoderImpl& sae, torch::optim::Adam& adam, const UpdateSettings& settings);

}  // namespace fpokit::sae
