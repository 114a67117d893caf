// lm/model/log_probs.h: the one CE/KL implementation, against torch's own cross_entropy and
// kl_div, in float32 for low-precision logits, and finite where a probability underflows.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>

#include "fpokit/lm/model/log_probs.h"

using namespace fpokit;
namespace F = torch::nn::functional;

TEST_CASE("next_token_cross_entropy equals torch's cross_entropy on the shifted targets", "[models][log_probs]") {
  torch::manual_seed(3);
  const auto logits = torch::randn({2, 5, 11});
  const auto ids = torch::randint(0, 11, {2, 5}, torch::kInt64);
  const auto ce = lm::next_token_cross_entropy(logits, ids);
  REQUIRE(ce.sizes() == torch::IntArrayRef({2, 4}));
  const auto expected = F::cross_entropy(logits.slice(1, 0, 4).reshape({8, 11}), ids.slice(1, 1).reshape({8}),
                                         F::CrossEntropyFuncOptions().reduction(torch::kNone))
                            .reshape({2, 4});
  CHECK(torch::allclose(ce, expected, 1e-6, 1e-6));
}

TEST_CASE("log-probs of bf16 logits are computed in float32, float64 stays float64", "[models][log_probs]") {
  const auto logits = torch::randn({3, 8});
  CHECK(lm::log_probs(logits.to(torch::kBFloat16)).scalar_type() == torch::kFloat32);
  CHECK(lm::log_probs(logits.to(torch::kFloat64)).scalar_type() == torch::kFloat64);
  // Computed from the bf16 values in float32: normalised to 1 within float32 rounding.
  CHECK(lm::log_probs(logits.to(torch::kBFloat16)).exp().sum(-1).sub(1).abs().max().item<double>() < 1e-6);
}

TEST_CASE("kl_divergence equals torch's kl_div and stays finite where p underflows", "[models][log_probs]") {
  torch::manual_seed(5);
  const auto p = torch::randn({4, 9}), q = torch::randn({4, 9});
  const auto lp = lm::log_probs(p), lq = lm::log_probs(q);
  // torch's kl_div(input = log q, target = log p, log_target) is Σ p (log p − log q).
  const auto expected = F::kl_div(lq, lp, F::KLDivFuncOptions().reduction(torch::kNone).log_target(true)).sum(-1);
  CHECK(torch::allclose(lm::kl_divergence(lp, lq), expected, 1e-6, 1e-6));
  CHECK(lm::kl_divergence(lp, lp).abs().max().item<double>() == 0.0);
  // p puts ~e^-200 on token 0: exp underflows to 0 in float32, and the KL stays finite.
  auto extreme = torch::zeros({1, 4});
  extreme[0][0] = -200.0;
  const auto kl = lm::kl_divergence(lm::log_probs(extreme), lm::log_probs(torch::zeros({1, 4})));
  CHECK(std::isfinite(kl.item<double>()));
  CHECK(kl.item<double>() >= 0.0);
}
