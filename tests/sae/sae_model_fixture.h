#pragma once
// The real-model SAE fixture of tests/fixtures/generate_sae_eval.py (tests/fixtures/sae_model/):
// the bundled models/tiny-llama run by HF transformers over a short corpus, the expected harvest
// (kept tokens and hook activations), SAEs on blocks.0.hook_resid_post with their features, and
// SAELens-defined eval metrics. Shared by test_sae_content.cpp (library) and
// test_sae_cli_content.cpp (the fpokit binary).
#include <torch/torch.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/model/load_model.h"
#include "test_support.h"

namespace fpokit::test {

inline std::filesystem::path sae_model_fixture(const std::string& relative) { return fixture("sae_model/" + relative); }
inline std::filesystem::path tiny_llama_dir() { return repo_file("models/tiny-llama"); }
inline std::filesystem::path sae_model_corpus() { return sae_model_fixture("corpus.jsonl"); }

// reference.json: the generator's settings and, under "eval", the metrics per SAE architecture.
inline const nlohmann::json& sae_model_settings() {
  static const nlohmann::json settings = [] {
    std::ifstream in(sae_model_fixture("reference.json"));
    return nlohmann::json::parse(in);
  }();
  return settings;
}

// An owned tensor of reference.safetensors.
inline torch::Tensor sae_model_reference(const std::string& name) {
  static const lm::SafetensorsFile file(sae_model_fixture("reference.safetensors"));
  return file.load(name);
}

// models/tiny-llama in float32 on the CPU; with `planted`, the embedding row of the fixture's
// outlier token (" fox") is scaled as the generator scaled it, so that its residual stream norm is
// far above the batch median (an attention-sink-like outlier).
inline lm::CausalLM load_tiny_llama(bool planted = false) {
  auto model = lm::load_model(tiny_llama_dir());
  model->eval();
  if (planted) {
    torch::NoGradGuard no_grad;
    const auto& s = sae_model_settings();
    auto* embedding = model->named_parameters().find("model.embed_tokens.weight");
    if (!embedding) throw std::runtime_error("tiny-llama has no model.embed_tokens.weight");
    (*embedding)[s.at("outlier_token").get<int64_t>()].mul_(s.at("outlier_scale").get<double>());
  }
  return model;
}

// Hook names of a JSON list.
inline std::vector<std::string> json_strings(const nlohmann::json& j) { return j.get<std::vector<std::string>>(); }

// max |a − b| as float64 (1e30 when the shapes differ, so a CHECK on it fails).
inline double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return 1e30;
  if (a.numel() == 0) return 0.0;
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Equal shapes and integer values (ids, positions, CSR structure).
inline bool same_integers(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && torch::equal(a.to(torch::kInt64), b.to(torch::kInt64));
}

// Dense [rows, cols] from CSR (indptr int64 [rows + 1], indices, values), in plain loops.
inline torch::Tensor csr_to_dense(const torch::Tensor& indptr, const torch::Tensor& indices,
                                  const torch::Tensor& values, int64_t cols) {
  const auto p = indptr.to(torch::kInt64).contiguous();
  const auto ix = indices.to(torch::kInt64).contiguous();
  const auto v = values.to(torch::kFloat32).contiguous();
  const int64_t rows = p.size(0) - 1;
  auto dense = torch::zeros({rows, cols}, torch::kFloat32);
  auto d = dense.accessor<float, 2>();
  const auto* pp = p.data_ptr<int64_t>();
  const auto* ii = ix.data_ptr<int64_t>();
  const auto* vv = v.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t e = pp[r]; e < pp[r + 1]; ++e) d[r][ii[e]] = vv[e];
  return dense;
}

// True when every CSR row lists its latents in strictly ascending order.
inline bool rows_ascending(const torch::Tensor& indptr, const torch::Tensor& indices) {
  const auto p = indptr.to(torch::kInt64).contiguous();
  const auto ix = indices.to(torch::kInt64).contiguous();
  const auto* pp = p.data_ptr<int64_t>();
  const auto* ii = ix.data_ptr<int64_t>();
  for (int64_t r = 0; r + 1 < p.size(0); ++r)
    for (int64_t e = pp[r] + 1; e < pp[r + 1]; ++e)
      if (ii[e] <= ii[e - 1]) return false;
  return true;
}

}  // namespace fpokit::test
