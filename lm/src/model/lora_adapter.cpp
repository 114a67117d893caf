#include "fpokit/lm/model/lora_adapter.h"

#include <torch/torch.h>

namespace fpokit::lm {

torch::Tensor LoraAdapter::delta(const torch::Tensor& x, bool training) const {
  auto h = dropout > 0 ? torch::dropout(x, dropout, training) : x;
  h = torch::matmul(h.to(A.scalar_type()), A.t());
  return (torch::matmul(h, B.t()) * scale).to(x.scalar_type());
}

}  // namespace fpokit::lm
