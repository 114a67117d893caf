#pragma once
// `fpokit drift`: which SAE features shift between a base model and one or more aligned models
// (docs/drift.md). One streaming pass over the data runs every model on identical token
// sequences, encodes each model's activation at the hook with the same SAE, and accumulates the
// per-feature statistics (stats/), the per-token KL of the next-token distributions, SAE fidelity
// and each feature's top activations. Rankings then pick the most shifted features; a second,
// small pass re-runs only the sequences holding their top activations to cut out the contexts.
#include <cstdint>
#include <functional>

#include "fpokit/analysis/drift/drift_options.h"
#include "fpokit/analysis/drift/drift_result.h"

namespace fpokit::analysis {

// progress(tokens_done, tokens_total) during the main pass.
// Throws InputError for bad input (one line: what, where, how to fix), before any long work:
// SAE width vs model width, a hook the model lacks, models with different vocabularies or
// tokenizers, data that yields no token, a missing model folder.
DriftResult run_drift(const DriftOptions& options, const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace fpokit::analysis
