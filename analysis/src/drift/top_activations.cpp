#include "fpokit/analysis/drift/top_activations.h"

#include <limits>

#include <torch/torch.h>

namespace fpokit::analysis {

TopActivations::TopActivations(int64_t d_sae, int64_t n) : d_sae_(d_sae), n_(n) {}

void TopActivations::add(const torch::Tensor& activations, const torch::Tensor& codes) {
  if (n_ <= 0 || activations.size(0) == 0) return;
  const auto acts = activations.to(torch::kFloat32);
  const auto batch_codes = codes.to(acts.device()).view({-1, 1});
  if (!values_.defined()) {
    values_ = torch::full({0, d_sae_}, -std::numeric_limits<float>::infinity(), acts.options());
    codes_ = torch::zeros({0, d_sae_}, acts.options().dtype(torch::kInt64));
  }
  cpu_values_ = torch::Tensor();
  if (values_.size(0) == n_) {
    // Full: only the features whose batch maximum beats their current n-th best can change (after
    // the first batches, few do), so merge just those columns.
    const auto beats = std::get<0>(acts.max(0)) > values_[n_ - 1];
    const auto columns = beats.nonzero().squeeze(1);
    if (columns.numel() == 0) return;
    const auto sub = acts.index_select(1, columns);
    const auto all_values = torch::cat({values_.index_select(1, columns), sub}, 0);
    const auto all_codes =
        torch::cat({codes_.index_select(1, columns), batch_codes.expand({acts.size(0), columns.numel()})}, 0);
    const auto [v, i] = all_values.topk(n_, 0, /*largest=*/true, /*sorted=*/true);
    values_.index_copy_(1, columns, v);
    codes_.index_copy_(1, columns, all_codes.gather(0, i));
    return;
  }
  const auto all_values = torch::cat({values_, acts}, 0);
  const auto all_codes = torch::cat({codes_, batch_codes.expand({acts.size(0), d_sae_})}, 0);
  const int64_t keep = std::min<int64_t>(n_, all_values.size(0));
  const auto [v, i] = all_values.topk(keep, 0, /*largest=*/true, /*sorted=*/true);
  values_ = v;
  codes_ = all_codes.gather(0, i);
}

std::vector<std::pair<float, int64_t>> TopActivations::top(int64_t feature) const {
  std::vector<std::pair<float, int64_t>> out;
  if (!values_.defined()) return out;
  if (!cpu_values_.defined()) {
    cpu_values_ = values_.cpu().contiguous();
    cpu_codes_ = codes_.cpu().contiguous();
  }
  const auto* v = cpu_values_.data_ptr<float>();
  const auto* c = cpu_codes_.data_ptr<int64_t>();
  for (int64_t r = 0; r < cpu_values_.size(0); ++r) {
    const float value = v[r * d_sae_ + feature];
    if (value > 0) out.emplace_back(value, c[r * d_sae_ + feature]);
  }
  return out;
}

}  // namespace fpokit::analysis
