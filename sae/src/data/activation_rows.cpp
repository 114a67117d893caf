#include "fpokit/sae/data/activation_rows.h"

#include <torch/torch.h>

namespace fpokit::sae {

ActivationRows ActivationRows::select(const torch::Tensor& index) const {
  ActivationRows out;
  for (const auto& a : activations) out.activations.push_back(a.index_select(0, index.to(a.device())));
  out.token_ids = token_ids.index_select(0, index.to(token_ids.device()));
  out.positions = positions.index_select(0, index.to(positions.device()));
  out.sequence_ids = sequence_ids.index_select(0, index.to(sequence_ids.device()));
  return out;
}

ActivationRows ActivationRows::slice(int64_t start, int64_t end) const {
  ActivationRows out;
  for (const auto& a : activations) out.activations.push_back(a.slice(0, start, end));
  out.token_ids = token_ids.slice(0, start, end);
  out.positions = positions.slice(0, start, end);
  out.sequence_ids = sequence_ids.slice(0, start, end);
  return out;
}

ActivationRows ActivationRows::to(const torch::Device& device) const {
  ActivationRows out;
  for (const auto& a : activations) out.activations.push_back(a.to(device));
  out.token_ids = token_ids.to(device);
  out.positions = positions.to(device);
  out.sequence_ids = sequence_ids.to(device);
  return out;
}

ActivationRows ActivationRows::cat(const std::vector<ActivationRows>& parts) {
  std::vector<const ActivationRows*> nonempty;
  for (const auto& p : parts)
    if (p.size() > 0) nonempty.push_back(&p);
  if (nonempty.empty()) return parts.empty() ? ActivationRows{} : parts.front();
  if (nonempty.size() == 1) return *nonempty.front();
  ActivationRows out;
  const size_t n_hooks = nonempty.front()->activations.size();
  for (size_t h = 0; h < n_hooks; ++h) {
    std::vector<torch::Tensor> xs;
    for (const auto* p : nonempty) xs.push_back(p->activations.at(h));
    out.activations.push_back(torch::cat(xs, 0));
  }
  auto cat_field = [&](torch::Tensor ActivationRows::*field) {
    std::vector<torch::Tensor> xs;
    for (const auto* p : nonempty) xs.push_back(p->*field);
    return torch::cat(xs, 0);
  };
  out.token_ids = cat_field(&ActivationRows::token_ids);
  out.positions = cat_field(&ActivationRows::positions);
  out.sequence_ids = cat_field(&ActivationRows::sequence_ids);
  return out;
}

}  // namespace fpokit::sae
