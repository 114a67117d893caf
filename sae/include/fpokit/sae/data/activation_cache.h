#pragma once
// `fpokit acts cache`: harvests activations (in corpus order, special tokens excluded) into an
// HDF5 activation file (activation_file.h) for offline training (`sae train --acts`), streaming:
// nothing but one model batch is held in memory. The file appears only when complete.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "fpokit/sae/data/harvesting_source.h"

namespace fpokit::sae {

struct ActivationCacheOptions {
  int64_t tokens = 0;                   // rows to write (stops earlier if the corpus ends)
  std::string storage_dtype = "float32";  // or "bfloat16"
  std::string model_name;
};

// Returns the number of rows written. Throws InputError when the corpus yields no token.
int64_t cache_activations(HarvestingSource& source, const std::filesystem::path& out,
                          const ActivationCacheOptions& options, const std::function<void(int64_t rows)>& progress = {});

}  // namespace fpokit::sae
