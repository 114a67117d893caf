#pragma once
// Where training activations come from: a model harvested online (HarvestingSource) or an
// offline cache file (ActivationFileSource). A source yields rows in a fixed, reproducible order
// and can seek back to any position it reported, which is what makes --resume exact: the mixing
// buffer records the source position at the start of its current window.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "fpokit/sae/data/activation_rows.h"

namespace fpokit::sae {

class ActivationSource {
 public:
  virtual ~ActivationSource() = default;

  virtual const std::vector<std::string>& hook_names() const = 0;
  virtual const std::vector<int64_t>& d_in() const = 0;  // per hook
  // Where the rows' tensors live (the mixing buffer prefetches on a side stream of this device).
  virtual torch::Device device() const = 0;
  // The next rows (any positive count, in source order), or nullopt when exhausted.
  virtual std::optional<ActivationRows> next() = 0;
  // An opaque, JSON-serialisable position, and a seek back to one.
  virtual nlohmann::json position() const = 0;
  virtual void seek(const nlohmann::json& position) = 0;
  // Seeks to the beginning (a new epoch).
  virtual void rewind() = 0;
  // A short description for logs and saved configs.
  virtual std::string describe() const = 0;
};

}  // namespace fpokit::sae
