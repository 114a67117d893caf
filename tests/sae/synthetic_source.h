#pragma once
// A test ActivationSource with a known answer: x = sparse non-negative codes @ a random unit-norm
// dictionary + noise. Rows come in blocks generated from (seed, block index), so the source is
// reproducible and seekable like the real ones.
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include "fpokit/sae/data/activation_source.h"

namespace fpokit::test {

class PlantedDictionarySource : public sae::ActivationSource {
 public:
  PlantedDictionarySource(int64_t d, int64_t n_atoms, int64_t k, int64_t total_rows, int64_t block_rows = 512,
                          uint64_t seed = 42, double noise = 0.01)
      : d_(d), k_(k), total_rows_(total_rows), block_rows_(block_rows), seed_(seed), noise_(noise) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    dictionary_ = torch::randn({n_atoms, d}, gen);
    dictionary_ = dictionary_ / dictionary_.norm(2, 1, true);
    hooks_ = {"blocks.0.hook_resid_post"};
    d_in_ = {d};
  }

  const torch::Tensor& dictionary() const { return dictionary_; }
  const std::vector<std::string>& hook_names() const override { return hooks_; }
  const std::vector<int64_t>& d_in() const override { return d_in_; }
  torch::Device device() const override { return torch::kCPU; }
  std::optional<sae::ActivationRows> next() override {
    const int64_t start = block_ * block_rows_;
    if (start >= total_rows_) return std::nullopt;
    const int64_t n = std::min(block_rows_, total_rows_ - start);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed_ * 1000003 + static_cast<uint64_t>(block_) + 1);
    const int64_t n_atoms = dictionary_.size(0);
    const auto scores = torch::rand({n, n_atoms}, gen);
    const auto idx = std::get<1>(scores.topk(k_, -1));
    const auto mags = torch::rand({n, k_}, gen) + 0.5;
    const auto codes = torch::zeros({n, n_atoms}).scatter(-1, idx, mags);
    sae::ActivationRows rows;
    rows.activations = {codes.matmul(dictionary_) + noise_ * torch::randn({n, d_}, gen)};
    rows.token_ids = torch::zeros({n}, torch::kInt64);
    rows.positions = torch::arange(start, start + n, torch::kInt64);
    rows.sequence_ids = torch::zeros({n}, torch::kInt64);
    ++block_;
    return rows;
  }
  nlohmann::json position() const override { return {{"block", block_}}; }
  void seek(const nlohmann::json& p) override { block_ = p.at("block").get<int64_t>(); }
  void rewind() override { block_ = 0; }
  std::string describe() const override { return "planted dictionary"; }

 private:
  int64_t d_, k_, total_rows_, block_rows_;
  uint64_t seed_;
  double noise_;
  torch::Tensor dictionary_;
  std::vector<std::string> hooks_;
  std::vector<int64_t> d_in_;
  int64_t block_ = 0;
};

}  // namespace fpokit::test
