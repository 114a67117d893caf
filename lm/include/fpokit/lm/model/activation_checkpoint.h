#pragma once
// Activation checkpointing ("gradient checkpointing") for one transformer block, as
// torch.utils.checkpoint does it (the reentrant variant): the forward runs the block without
// recording a graph and keeps only its input; the backward runs the block again with the graph
// on and back-propagates through it. Activation memory drops from all blocks' intermediates to
// one block's plus the block inputs, for about one extra forward of compute.
//
// Parameters inside the block get their gradients from that inner backward (accumulated into
// .grad, as the reentrant variant does), so the result equals the plain backward. Random draws
// inside the block (LoRA dropout) replay exactly: the default generators' states (CPU, and the
// input's device) are saved at the forward and restored for the recomputation.
#include <functional>

#include <torch/types.h>

namespace fpokit::lm {

using BlockFn = std::function<torch::Tensor(const torch::Tensor&)>;

// block(x) with the graph recomputed in the backward. Call only with grad mode on; `block` must be
// a pure function of x and the module's parameters (no caches, no hooks that keep tensors).
torch::Tensor checkpoint_block(BlockFn block, const torch::Tensor& x);

}  // namespace fpokit::lm
