#pragma once
// The offline reference, saved: per pair the reference's summed and mean completion log-probs
// and token counts, and for FPO its pooled SAE features stored sparse (CSR: pooled features of a
// TopK/JumpReLU SAE are mostly zero). An HDF5 file whose root attribute `fingerprint` (JSON of the
// reference model, data, tokenisation and SAE settings) must equal the run's for reuse, so a
// changed model, dataset or max_length never silently reuses stale values.
#include <filesystem>
#include <optional>
#include <string>

#include "fpokit/fpo/training/preference_trainer.h"

namespace fpokit::fpo {

// Writes atomically (core::write_file_atomically): a write that throws leaves no temporary file
// and an existing `path` as it was.
void save_reference_cache(const std::filesystem::path& path, const PreferenceTrainer::ReferenceValues& values,
                          const std::string& fingerprint);

// The cached values when `path` exists and its fingerprint equals `fingerprint`; nullopt when the
// file is absent. A stale file (other fingerprint) throws InputError naming what differs when
// `stale_is_error`, else returns nullopt (the caller recomputes and overwrites it). A corrupt file
// throws CheckpointError.
std::optional<PreferenceTrainer::ReferenceValues> load_reference_cache(const std::filesystem::path& path,
                                                                       const std::string& fingerprint,
                                                                       bool stale_is_error = false);

}  // namespace fpokit::fpo
