#include "fpokit/lm/model/kv_cache.h"

#include <torch/torch.h>

namespace fpokit::lm {

std::pair<torch::Tensor, torch::Tensor> KVCache::append(int64_t layer, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  auto& keys = keys_.at(static_cast<size_t>(layer));
  auto& values = values_.at(static_cast<size_t>(layer));
  if (!keys.defined()) {
    keys = k;
    values = v;
  } else {
    keys = torch::cat({keys, k}, 2);
    values = torch::cat({values, v}, 2);
  }
  return {keys, values};
}

void KVCache::clear() {
  for (auto& k : keys_) k = torch::Tensor();
  for (auto& v : values_) v = torch::Tensor();
}

}  // namespace fpokit::lm
