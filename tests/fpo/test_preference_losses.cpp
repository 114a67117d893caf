// The preference losses of fpo/ against the PyTorch reference written from docs/methods.md
// (tests/fixtures/generate_preference_losses.py): every loss, metric and policy-logit gradient
// within 1e-5 (float32) / 1e-9 (float64), autograd against central differences, the FPO
// paper/released-code variants, and option validation.
#include <torch/torch.h>
// After every LibTorch header: c10 defines its own CHECK.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "fpokit/fpo/losses/preference_losses.h"
#include "fpokit/fpo/training/sequence_logps.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;

namespace {

// max |got − want| <= tol · max|want| (plus a floor for all-zero references).
bool close(const torch::Tensor& got, const torch::Tensor& want, double tol, double* err = nullptr) {
  const auto g = got.defined() ? got.detach().to(torch::kFloat64) : torch::zeros_like(want, torch::kFloat64);
  const auto w = want.to(torch::kFloat64);
  if (g.sizes() != w.sizes()) return false;
  if (w.numel() == 0) return true;
  const double diff = (g - w).abs().max().item<double>();
  const double scale = w.abs().max().item<double>();
  if (err) *err = diff / std::max(scale, 1e-300);
  return diff <= tol * scale + 1e-15;
}

#define CHECK_CLOSE(got, want, tol)                                                             \
  do {                                                                                          \
    double rel_err_ = 0;                                                                        \
    const bool ok_ = close((got), (want), (tol), &rel_err_);                                    \
    INFO(#got << ": relative error " << rel_err_ << " (shape " << (want).sizes() << ")");       \
    CHECK(ok_);                                                                                 \
  } while (false)

class Fixture {
 public:
  Fixture() : file_(test::fixture("fpo/preference_losses.safetensors")) {}
  torch::Tensor operator()(const std::string& name) const { return file_.load(name); }
  std::set<std::string> names_with_prefix(const std::string& prefix) const {
    std::set<std::string> out;
    for (const auto& t : file_.tensors())
      if (t.name.rfind(prefix, 0) == 0) out.insert(t.name.substr(prefix.size()));
    return out;
  }

 private:
  lm::SafetensorsFile file_;
};

struct Side {
  torch::Tensor logits, ref_logits, labels, mask, features, ref_features;
};

struct Batch {
  Side chosen, rejected;
  int64_t top_k = 4;
};

Side load_side(const Fixture& fx, const std::string& side, torch::ScalarType dtype) {
  return {fx(side + "_logits").to(dtype),   fx("ref_" + side + "_logits").to(dtype), fx(side + "_labels"),
          fx(side + "_mask"),               fx(side + "_features").to(dtype),
          fx("ref_" + side + "_features").to(dtype)};
}

// The policy tensors the gradient is taken with respect to.
struct Leaves {
  torch::Tensor chosen_logits, rejected_logits, chosen_features, rejected_features;
  std::vector<torch::Tensor> list() const {
    return {chosen_logits, rejected_logits, chosen_features, rejected_features};
  }
};

Leaves leaves_of(const Batch& b) {
  return {b.chosen.logits.clone().requires_grad_(true), b.rejected.logits.clone().requires_grad_(true),
          b.chosen.features.clone().requires_grad_(true), b.rejected.features.clone().requires_grad_(true)};
}

// The trainer's path: sequence_logps with the reference logits (TDPO's KL), the reference without
// gradient, pooled features and D for FPO.
PreferenceInputs build_inputs(const Batch& b, const Leaves& x, FpoVariant variant, const torch::Tensor& z0) {
  PreferenceInputs in;
  in.policy_chosen = sequence_logps(x.chosen_logits, b.chosen.labels, b.chosen.mask, b.chosen.ref_logits);
  in.policy_rejected = sequence_logps(x.rejected_logits, b.rejected.labels, b.rejected.mask, b.rejected.ref_logits);
  in.kl_chosen = in.policy_chosen.kl;
  in.kl_rejected = in.policy_rejected.kl;
  torch::Tensor ref_pooled_w, ref_pooled_l;
  {
    torch::NoGradGuard no_grad;
    in.reference_chosen = sequence_logps(b.chosen.ref_logits, b.chosen.labels, b.chosen.mask);
    in.reference_rejected = sequence_logps(b.rejected.ref_logits, b.rejected.labels, b.rejected.mask);
    ref_pooled_w = pool_features(b.chosen.ref_features, b.chosen.mask, variant);
    ref_pooled_l = pool_features(b.rejected.ref_features, b.rejected.mask, variant);
  }
  in.feature_mse_chosen =
      feature_mse(pool_features(x.chosen_features, b.chosen.mask, variant), ref_pooled_w, b.top_k, variant);
  in.feature_mse_rejected =
      feature_mse(pool_features(x.rejected_features, b.rejected.mask, variant), ref_pooled_l, b.top_k, variant);
  in.kto_reference_point = z0;
  return in;
}

struct Case {
  std::string name;
  Method method;
  PreferenceLossOptions options;
};

// The generator's CASES, option for option.
std::vector<Case> fixture_cases() {
  std::vector<Case> v;
  auto add = [&v](std::string name, Method m, const std::function<void(PreferenceLossOptions&)>& set) {
    PreferenceLossOptions o;
    set(o);
    v.push_back({std::move(name), m, o});
  };
  add("dpo", Method::Dpo, [](auto& o) { o.dpo.beta = 0.1; o.dpo.label_smoothing = 0.0; });
  add("cdpo", Method::Dpo, [](auto& o) { o.dpo.beta = 0.1; o.dpo.label_smoothing = 0.2; });
  add("ipo", Method::Ipo, [](auto& o) { o.dpo.beta = 0.1; o.dpo.ipo_average_logps = true; });
  add("ipo_sum", Method::Ipo, [](auto& o) { o.dpo.beta = 0.1; o.dpo.ipo_average_logps = false; });
  add("hinge", Method::Hinge, [](auto& o) { o.dpo.beta = 2.0; });
  add("robust", Method::Robust, [](auto& o) { o.dpo.beta = 0.1; o.dpo.label_smoothing = 0.2; });
  add("simpo", Method::Simpo, [](auto& o) {
    o.simpo.beta = 2.0;
    o.simpo.gamma_beta_ratio = 0.5;
    o.simpo.sft_weight = 0.3;
    o.simpo.label_smoothing = 0.1;
  });
  add("tdpo1", Method::Tdpo1, [](auto& o) { o.tdpo.beta = 0.1; });
  add("tdpo2", Method::Tdpo2, [](auto& o) { o.tdpo.beta = 0.1; o.tdpo.alpha = 0.5; });
  add("kto", Method::Kto, [](auto& o) {
    o.kto.beta = 0.1;
    o.kto.desirable_weight = 1.0;
    o.kto.undesirable_weight = 1.5;
  });
  add("orpo", Method::Orpo, [](auto& o) { o.orpo.lambda = 0.1; });
  add("sft", Method::Sft, [](auto&) {});
  add("fpo_paper", Method::Fpo, [](auto& o) {
    o.fpo.beta = 0.1;
    o.fpo.alpha = 0.5;
    o.fpo.top_k = 4;
    o.fpo.variant = FpoVariant::Paper;
  });
  add("fpo_released", Method::Fpo, [](auto& o) {
    o.fpo.beta = 0.1;
    o.fpo.alpha = 0.5;
    o.fpo.top_k = 4;
    o.fpo.variant = FpoVariant::ReleasedCode;
  });
  return v;
}

using TensorFunction = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

// LibTorch has no gradcheck in C++: the autograd gradient of `loss` at `at` against central
// differences of `surrogate` (the loss with its stop-gradient terms held constant), element by
// element. Returns max |fd − autograd| / max(1, |fd|).
double max_gradient_error(const TensorFunction& loss, const TensorFunction& surrogate,
                          const std::vector<torch::Tensor>& at, double h) {
  const auto& f = surrogate;
  std::vector<torch::Tensor> x;
  for (const auto& t : at) x.push_back(t.detach().clone().requires_grad_(true));
  const auto grads = torch::autograd::grad({loss(x)}, x, {}, std::nullopt, false, /*allow_unused=*/true);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> p;
  for (const auto& t : at) p.push_back(t.detach().clone());
  double worst = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    auto flat = p[i].view({-1});
    const auto g = grads[i].defined() ? grads[i].reshape({-1}) : torch::zeros_like(flat);
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double x0 = flat[j].item<double>();
      flat[j].fill_(x0 + h);
      const double up = f(p).item<double>();
      flat[j].fill_(x0 - h);
      const double down = f(p).item<double>();
      flat[j].fill_(x0);
      const double fd = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(fd - g[j].item<double>()) / std::max(1.0, std::abs(fd)));
    }
  }
  return worst;
}

// Runs LibTorch single-threaded for its lifetime.
class SingleThread {
 public:
  SingleThread() : previous_(torch::get_num_threads()) { torch::set_num_threads(1); }
  ~SingleThread() { torch::set_num_threads(previous_); }
  SingleThread(const SingleThread&) = delete;
  SingleThread& operator=(const SingleThread&) = delete;

 private:
  int previous_;
};

// A tiny float64 batch: B = 2, T = 5, V = 5, F = 6, k = 2, completions of 1 to 3 tokens, labels
// -100 on the padding, one confident rejected completion (ORPO's other log1mexp branch).
Batch tiny_batch() {
  torch::manual_seed(7);
  const int64_t B = 2, T = 5, V = 5, F = 6;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t prompt[2] = {1, 2};
  auto make = [&](const int64_t (&len)[2], bool confident) {
    Side s;
    s.labels = torch::randint(0, V, {B, T}, torch::kLong);
    s.mask = torch::zeros({B, T}, torch::kLong);
    s.logits = torch::randn({B, T, V}, f64);
    for (int64_t b = 0; b < B; ++b) {
      s.mask.index_put_({b, torch::indexing::Slice(prompt[b], prompt[b] + len[b])}, 1);
      s.labels.index_put_({b, torch::indexing::Slice(prompt[b] + len[b], torch::indexing::None)}, -100);
    }
    if (confident)
      for (int64_t t = prompt[1] - 1; t < prompt[1] + len[1] - 1; ++t)
        s.logits.index_put_({1, t, s.labels[1][t + 1].item<int64_t>()}, 4.0);
    s.ref_logits = s.logits + 0.5 * torch::randn({B, T, V}, f64);
    s.features = torch::relu(torch::randn({B, T, F}, f64) + 0.3);
    s.ref_features = torch::relu(s.features + 0.5 * torch::randn({B, T, F}, f64));
    return s;
  };
  Batch b;
  b.chosen = make({3, 1}, false);
  b.rejected = make({2, 3}, true);
  b.top_k = 2;
  return b;
}

}  // namespace

TEST_CASE("sequence_logps and the TDPO KL match the reference", "[fpo][losses]") {
  const bool fp64 = GENERATE(false, true);
  const auto dtype = fp64 ? torch::kFloat64 : torch::kFloat32;
  const double tol = fp64 ? 1e-9 : 1e-5;
  INFO((fp64 ? "float64" : "float32"));
  Fixture fx;
  for (const std::string side : {"chosen", "rejected"}) {
    INFO("side " << side);
    const auto s = load_side(fx, side, dtype);
    const auto pol = sequence_logps(s.logits, s.labels, s.mask, s.ref_logits);
    const auto ref = sequence_logps(s.ref_logits, s.labels, s.mask);
    CHECK(pol.sum.scalar_type() == dtype);
    const std::pair<std::string, const SequenceLogps*> models[] = {{"policy_", &pol}, {"reference_", &ref}};
    for (const auto& [who, got] : models) {
      const std::string p = "logps." + who + side + ".";
      CHECK_CLOSE(got->token_logps, fx(p + "tokens"), tol);
      CHECK_CLOSE(got->sum, fx(p + "sum"), tol);
      CHECK_CLOSE(got->mean, fx(p + "mean"), tol);
      CHECK_CLOSE(got->num_tokens, fx(p + "num_tokens"), 0.0);
    }
    CHECK_CLOSE(pol.kl, fx("kl." + side), tol);
    CHECK_FALSE(ref.kl.defined());
  }
}

TEST_CASE("sequence_logps upcasts bf16 and rejects bad labels and shapes", "[fpo][losses]") {
  const auto logits = torch::randn({2, 4, 6}).to(torch::kBFloat16);
  auto labels = torch::randint(0, 6, {2, 4}, torch::kLong);
  const auto mask = torch::tensor({{0, 1, 1, 0}, {0, 0, 0, 0}});
  const auto out = sequence_logps(logits, labels, mask);
  CHECK(out.token_logps.scalar_type() == torch::kFloat32);
  CHECK(out.num_tokens[1].item<double>() == 0.0);
  CHECK(out.mean[1].item<double>() == 0.0);  // no completion tokens: 0, not NaN
  labels.index_put_({0, 3}, -100);           // outside the completion: ignored
  CHECK_NOTHROW(sequence_logps(logits, labels, mask));
  labels.index_put_({0, 2}, 6);  // inside the completion, out of the vocabulary
  CHECK_THROWS_AS(sequence_logps(logits, labels, mask), std::invalid_argument);
  CHECK_THROWS_AS(sequence_logps(logits, labels.slice(1, 0, 3), mask), std::invalid_argument);
  CHECK_THROWS_AS(sequence_logps(logits, labels, mask, torch::randn({2, 4, 5})), std::invalid_argument);
}

TEST_CASE("FPO pooled features and feature MSE match the reference for both variants", "[fpo][losses]") {
  const bool fp64 = GENERATE(false, true);
  const auto dtype = fp64 ? torch::kFloat64 : torch::kFloat32;
  const double tol = fp64 ? 1e-9 : 1e-5;
  Fixture fx;
  for (const auto variant : {FpoVariant::Paper, FpoVariant::ReleasedCode}) {
    const std::string v(fpo_variant_name(variant));
    for (const std::string side : {"chosen", "rejected"}) {
      INFO("variant " << v << " side " << side);
      const auto s = load_side(fx, side, dtype);
      const auto pi = pool_features(s.features, s.mask, variant);
      const auto ref = pool_features(s.ref_features, s.mask, variant);
      CHECK_CLOSE(pi, fx("pooled." + v + ".policy_" + side), tol);
      CHECK_CLOSE(ref, fx("pooled." + v + ".reference_" + side), tol);
      CHECK_CLOSE(feature_mse(pi, ref, 4, variant), fx("feature_mse." + v + "." + side), tol);
    }
  }
}

TEST_CASE("every loss metric and policy gradient matches the reference", "[fpo][losses]") {
  const bool fp64 = GENERATE(false, true);
  const auto dtype = fp64 ? torch::kFloat64 : torch::kFloat32;
  const double tol = fp64 ? 1e-9 : 1e-5;
  INFO((fp64 ? "float64" : "float32"));
  Fixture fx;
  Batch b{load_side(fx, "chosen", dtype), load_side(fx, "rejected", dtype), 4};

  torch::Tensor z0;
  {
    torch::NoGradGuard no_grad;
    const auto kl_pi = sequence_logps(fx("kl_logits").to(dtype), fx("kl_labels"), fx("kl_mask"));
    const auto kl_ref = sequence_logps(fx("ref_kl_logits").to(dtype), fx("kl_labels"), fx("kl_mask"));
    z0 = kto_reference_point(kl_pi.sum, kl_ref.sum);
  }
  CHECK_CLOSE(z0, fx("kto.reference_point"), tol);

  for (const auto& c : fixture_cases()) {
    INFO("case " << c.name);
    const auto x = leaves_of(b);
    const auto in = build_inputs(b, x, c.options.fpo.variant, z0);
    const auto r = preference_loss(c.method, in, c.options);
    CHECK_CLOSE(r.loss, fx(c.name + ".loss"), tol);

    const auto want_metrics = fx.names_with_prefix(c.name + ".metric.");
    std::set<std::string> got_metrics;
    for (const auto& [name, value] : r.metrics) {
      got_metrics.insert(name);
      INFO("metric " << name);
      CHECK_FALSE(value.requires_grad());
      if (want_metrics.count(name)) CHECK_CLOSE(value, fx(c.name + ".metric." + name), tol);
    }
    CHECK(got_metrics == want_metrics);

    const auto grads = torch::autograd::grad({r.loss}, x.list(), {}, std::nullopt, false, /*allow_unused=*/true);
    CHECK_CLOSE(grads[0], fx(c.name + ".grad.chosen_logits"), tol);
    CHECK_CLOSE(grads[1], fx(c.name + ".grad.rejected_logits"), tol);
    if (c.method == Method::Fpo) {
      CHECK_CLOSE(grads[2], fx(c.name + ".grad.chosen_features"), tol);
      CHECK_CLOSE(grads[3], fx(c.name + ".grad.rejected_features"), tol);
    }
  }
}

TEST_CASE("every loss has the gradient of its central differences", "[fpo][losses][gradcheck]") {
  // ~5000 evaluations on tensors of a few hundred elements: intra-op threads only add overhead
  // (20x slower on a busy machine).
  const SingleThread single_thread;
  const auto b = tiny_batch();
  const auto z0 = torch::tensor(0.3, torch::kFloat64);
  const std::vector<torch::Tensor> at = {b.chosen.logits, b.rejected.logits, b.chosen.features, b.rejected.features};
  for (const auto& c : fixture_cases()) {
    INFO("case " << c.name);
    auto o = c.options;
    o.fpo.top_k = b.top_k;
    const auto loss = [&](const std::vector<torch::Tensor>& x) {
      return preference_loss(c.method, build_inputs(b, {x[0], x[1], x[2], x[3]}, o.fpo.variant, z0), o).loss;
    };
    // With a stop-gradient autograd differentiates a surrogate in which the detached term is a
    // constant (TDPO2's chosen KL, FPO's chosen D): its central differences hold the term at its
    // value at `at`.
    PreferenceInputs frozen;
    {
      torch::NoGradGuard no_grad;
      frozen = build_inputs(b, {at[0], at[1], at[2], at[3]}, o.fpo.variant, z0);
    }
    const auto surrogate = [&](const std::vector<torch::Tensor>& x) {
      auto in = build_inputs(b, {x[0], x[1], x[2], x[3]}, o.fpo.variant, z0);
      if (c.method == Method::Tdpo2) in.kl_chosen = frozen.kl_chosen;
      if (c.method == Method::Fpo) in.feature_mse_chosen = frozen.feature_mse_chosen;
      return preference_loss(c.method, in, o).loss;
    };
    CHECK(max_gradient_error(loss, surrogate, at, 1e-6) < 1e-6);
  }
}

TEST_CASE("FPO paper and released-code variants differ when the top-k sets differ", "[fpo][losses]") {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  // Policy top-2 = {0, 1}, reference top-2 = {2, 3}.
  const auto pi = torch::tensor({5.0, 4.0, 0.0, 0.0, 0.0, 0.0}, opts).unsqueeze(0);
  const auto ref = torch::tensor({0.0, 0.0, 3.0, 2.0, 0.0, 1.0}, opts).unsqueeze(0);
  // Paper: the union {0, 1, 2, 3}, divided by k = 2.
  CHECK(feature_mse(pi, ref, 2, FpoVariant::Paper).item<double>() == Approx((25.0 + 16.0 + 9.0 + 4.0) / 2.0));
  // Released code: the policy's top-2 only, the reference gathered there.
  CHECK(feature_mse(pi, ref, 2, FpoVariant::ReleasedCode).item<double>() == Approx((25.0 + 16.0) / 2.0));
  // Same top-k sets: the variants agree.
  const auto ref_same = torch::tensor({4.0, 3.0, 0.5, 0.0, 0.0, 0.0}, opts).unsqueeze(0);
  CHECK(feature_mse(pi, ref_same, 2, FpoVariant::Paper).item<double>() ==
        Approx(feature_mse(pi, ref_same, 2, FpoVariant::ReleasedCode).item<double>()));

  // Pooling: features[:, :-1] under completion_mask[:, 1:]; / n (paper) or / (T-1) (released).
  const auto feats = torch::tensor({1.0, 2.0, 3.0, 4.0}, opts).reshape({1, 4, 1});
  const auto mask = torch::tensor({{0, 1, 1, 0}});
  CHECK(pool_features(feats, mask, FpoVariant::Paper).item<double>() == Approx((1.0 + 2.0) / 2.0));
  CHECK(pool_features(feats, mask, FpoVariant::ReleasedCode).item<double>() == Approx((1.0 + 2.0) / 3.0));

  CHECK_THROWS_AS(feature_mse(pi, ref, 7, FpoVariant::Paper), ConfigError);
  CHECK_THROWS_AS(feature_mse(pi, ref, 0, FpoVariant::ReleasedCode), ConfigError);
}

TEST_CASE("stop-gradients: TDPO2 and FPO detach only the chosen constraint and rewards are detached",
          "[fpo][losses]") {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  torch::manual_seed(17);
  PreferenceInputs in;
  for (auto* s : {&in.policy_chosen, &in.policy_rejected, &in.reference_chosen, &in.reference_rejected}) {
    s->sum = torch::randn({3}, opts);
    s->mean = s->sum / 4.0;
    s->num_tokens = torch::full({3}, 4.0, opts);
  }
  in.kl_chosen = torch::rand({3}, opts).requires_grad_(true);
  in.kl_rejected = torch::rand({3}, opts).requires_grad_(true);
  in.feature_mse_chosen = torch::rand({3}, opts).requires_grad_(true);
  in.feature_mse_rejected = torch::rand({3}, opts).requires_grad_(true);
  PreferenceLossOptions o;

  auto grad = [](const torch::Tensor& loss, const torch::Tensor& w, const torch::Tensor& l) {
    auto g = torch::autograd::grad({loss}, {w, l}, {}, std::nullopt, false, true);
    return std::pair{g[0].defined() ? g[0].abs().sum().item<double>() : 0.0, g[1].abs().sum().item<double>()};
  };
  const auto [tdpo2_w, tdpo2_l] = grad(preference_loss(Method::Tdpo2, in, o).loss, in.kl_chosen, in.kl_rejected);
  CHECK(tdpo2_w == 0.0);
  CHECK(tdpo2_l > 0.0);
  const auto [tdpo1_w, tdpo1_l] = grad(preference_loss(Method::Tdpo1, in, o).loss, in.kl_chosen, in.kl_rejected);
  CHECK(tdpo1_w > 0.0);
  CHECK(tdpo1_l > 0.0);
  const auto fpo = preference_loss(Method::Fpo, in, o);
  const auto [fpo_w, fpo_l] = grad(fpo.loss, in.feature_mse_chosen, in.feature_mse_rejected);
  CHECK(fpo_w == 0.0);
  CHECK(fpo_l > 0.0);
  for (const auto& [name, value] : fpo.metrics) {
    INFO(name);
    CHECK_FALSE(value.requires_grad());
  }
}

TEST_CASE("label smoothing 0 gives plain DPO and robust with 0 equals DPO", "[fpo][losses]") {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  torch::manual_seed(17);
  PreferenceInputs in;
  for (auto* s : {&in.policy_chosen, &in.policy_rejected, &in.reference_chosen, &in.reference_rejected})
    s->sum = 3.0 * torch::randn({5}, opts);
  PreferenceLossOptions o;
  o.dpo.beta = 0.3;
  const auto h =
      (in.policy_chosen.sum - in.policy_rejected.sum) - (in.reference_chosen.sum - in.reference_rejected.sum);
  const auto plain = (-torch::log_sigmoid(0.3 * h)).mean();
  CHECK(preference_loss(Method::Dpo, in, o).loss.item<double>() == Approx(plain.item<double>()).epsilon(1e-14));
  CHECK(preference_loss(Method::Robust, in, o).loss.item<double>() == Approx(plain.item<double>()).epsilon(1e-14));
  o.dpo.label_smoothing = 0.1;
  CHECK(preference_loss(Method::Dpo, in, o).loss.item<double>() != Approx(plain.item<double>()).epsilon(1e-6));
}

TEST_CASE("methods parse by name and bad options throw ConfigError", "[fpo][losses][config]") {
  for (const std::string name :
       {"fpo", "dpo", "ipo", "hinge", "robust", "simpo", "tdpo1", "tdpo2", "kto", "orpo", "sft"})
    CHECK(method_name(parse_method(name)) == name);
  CHECK_THROWS_AS(parse_method("dpo2"), ConfigError);
  CHECK_THROWS_WITH(parse_method("DPO"), Catch::Contains("fpo|dpo|ipo|hinge|robust|simpo|tdpo1|tdpo2|kto|orpo|sft"));
  CHECK(parse_fpo_variant("released") == FpoVariant::ReleasedCode);
  CHECK_THROWS_AS(parse_fpo_variant("code"), ConfigError);

  const auto b = tiny_batch();
  const auto x = leaves_of(b);
  const auto in = build_inputs(b, x, FpoVariant::Paper, torch::tensor(0.0, torch::kFloat64));
  for (const auto m : {Method::Fpo, Method::Dpo, Method::Ipo, Method::Hinge, Method::Robust, Method::Simpo,
                       Method::Tdpo1, Method::Tdpo2, Method::Kto}) {
    INFO(method_name(m));
    PreferenceLossOptions o;
    o.fpo.top_k = 2;
    CHECK_NOTHROW(preference_loss(m, in, o));
    o.dpo.beta = o.simpo.beta = o.tdpo.beta = o.kto.beta = o.fpo.beta = -0.1;
    CHECK_THROWS_AS(preference_loss(m, in, o), ConfigError);
    CHECK_THROWS_AS(o.validate(m), ConfigError);
  }
  PreferenceLossOptions o;
  o.dpo.beta = std::nan("");
  CHECK_THROWS_AS(o.validate(Method::Dpo), ConfigError);
  o = {};
  o.dpo.label_smoothing = 0.5;
  CHECK_NOTHROW(o.validate(Method::Dpo));
  CHECK_THROWS_AS(o.validate(Method::Robust), ConfigError);  // divides by 1 - 2ε
  CHECK_THROWS_AS(o.validate(Method::Hinge), ConfigError);   // would be silently ignored
  o = {};
  o.tdpo.alpha = -1;
  CHECK_THROWS_AS(o.validate(Method::Tdpo2), ConfigError);
  o = {};
  o.orpo.lambda = -0.1;
  CHECK_THROWS_AS(o.validate(Method::Orpo), ConfigError);
  o = {};
  o.fpo.top_k = 0;
  CHECK_THROWS_AS(o.validate(Method::Fpo), ConfigError);
  o = {};
  o.simpo.sft_weight = -1;
  CHECK_THROWS_AS(o.validate(Method::Simpo), ConfigError);
}

TEST_CASE("missing or mis-shaped loss inputs throw invalid_argument naming the input", "[fpo][losses]") {
  PreferenceInputs in;
  PreferenceLossOptions o;
  CHECK_THROWS_WITH(preference_loss(Method::Dpo, in, o), Catch::Contains("policy_chosen.sum"));
  for (auto* s : {&in.policy_chosen, &in.policy_rejected, &in.reference_chosen, &in.reference_rejected})
    s->sum = torch::zeros({3});
  CHECK_NOTHROW(preference_loss(Method::Dpo, in, o));
  CHECK_THROWS_WITH(preference_loss(Method::Tdpo2, in, o), Catch::Contains("kl_chosen"));
  CHECK_THROWS_AS(preference_loss(Method::Kto, in, o), std::invalid_argument);  // no reference point
  in.reference_rejected.sum = torch::zeros({4});
  CHECK_THROWS_WITH(preference_loss(Method::Dpo, in, o), Catch::Contains("reference_rejected.sum"));
  CHECK(kto_reference_point(torch::full({2}, -3.0), torch::zeros({2})).item<double>() == 0.0);  // clamped at 0
}
