// Each forward formula, loss term, gradient (JumpReLU STE, AuxK) and metric of the C++ SAE equals
// the PyTorch reference written from docs/sae.md (tests/fixtures/generate_sae.py) within 1e-5.
#include "fpokit/sae/model/jumprelu.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpokit/sae/model/sae_losses.h"
#include "fpokit/sae/eval/sae_metrics.h"
#include "sae_test_util.h"

// After every LibTorch header: c10 defines its own CHECK.
#include <catch2/catch.hpp>

using namespace fpokit;
using namespace fpokit::sae;
using fpokit::test::max_abs_diff;
using fpokit::test::sae_fixture;

namespace {

constexpr double kTol = 1e-5;

// Relative-to-magnitude tolerance for scalars of size ~100.
void require_scalar_close(const torch::Tensor& got, const torch::Tensor& want, const char* what) {
  const double g = got.item<double>(), w = want.item<double>();
  INFO(what << ": got " << g << ", want " << w);
  REQUIRE(std::abs(g - w) <= kTol * std::max(1.0, std::abs(w)));
}

struct Fixture {
  explicit Fixture(const std::string& arch)
      : ref(sae_fixture("reference_" + arch + ".safetensors")), sae(load_saelens(sae_fixture("saelens_" + arch))) {
    sae->train();
    hyper = ref.load("hyper").to(torch::kFloat64);
  }
  torch::Tensor t(const std::string& name) const { return ref.load(name).clone(); }
  LossOptions loss_options() const {
    LossOptions o;
    o.l1_coefficient = hyper[2].item<double>();
    o.l0_coefficient = hyper[3].item<double>();
    o.auxk_coefficient = hyper[4].item<double>();
    o.k_aux = static_cast<int64_t>(hyper[5].item<double>());
    return o;
  }
  lm::SafetensorsFile ref;
  SparseAutoencoder sae;
  torch::Tensor hyper;
};

}  // namespace

TEST_CASE("forward pass, losses and gradients match the reference for every architecture", "[sae][formulas]") {
  const std::string arch = GENERATE(as<std::string>{}, "topk", "batchtopk", "relu", "jumprelu", "gated");
  INFO("architecture " << arch);
  Fixture fx(arch);
  if (arch == "topk" || arch == "batchtopk")
    REQUIRE(fx.sae->config().k == static_cast<int64_t>(fx.hyper[0].item<double>()));
  if (arch == "jumprelu" || arch == "batchtopk")
    REQUIRE(fx.sae->config().jumprelu_bandwidth == Approx(fx.hyper[1].item<double>()));
  const auto x = fx.t("x");

  auto terms = training_loss(*fx.sae, x, fx.loss_options());
  CHECK(max_abs_diff(terms.forward.pre, fx.t("pre")) < kTol);
  CHECK(max_abs_diff(terms.forward.features, fx.t("features")) < kTol);
  CHECK(max_abs_diff(terms.forward.reconstruction, fx.t("reconstruction")) < kTol);
  require_scalar_close(terms.reconstruction, fx.t("loss_reconstruction"), "reconstruction");
  require_scalar_close(terms.sparsity, fx.t("loss_sparsity"), "sparsity");
  require_scalar_close(terms.total, fx.t("loss_total"), "total");
  if (arch == "gated") require_scalar_close(terms.auxiliary, fx.t("loss_gated_auxiliary"), "gated auxiliary");

  terms.total.backward();
  CHECK(max_abs_diff(fx.sae->W_enc.grad(), fx.t("grad_W_enc")) < kTol);
  CHECK(max_abs_diff(fx.sae->b_enc.grad(), fx.t("grad_b_enc")) < kTol);
  CHECK(max_abs_diff(fx.sae->W_dec.grad(), fx.t("grad_W_dec")) < kTol);
  CHECK(max_abs_diff(fx.sae->b_dec.grad(), fx.t("grad_b_dec")) < kTol);
  if (arch == "gated") {
    // r_mag and b_mag learn only through the reconstruction; b_gate (b_enc) only through the
    // sparsity and auxiliary terms: the Heaviside gate passes no gradient.
    CHECK(max_abs_diff(fx.sae->r_mag.grad(), fx.t("grad_r_mag")) < kTol);
    CHECK(max_abs_diff(fx.sae->b_mag.grad(), fx.t("grad_b_mag")) < kTol);
  }
  if (arch == "jumprelu") {
    // The rectangle-kernel STE: θ receives gradient from both the JumpReLU and the L0 step.
    const auto want = fx.t("grad_threshold");
    REQUIRE((want != 0).sum().item<int64_t>() > 0);
    CHECK(max_abs_diff(fx.sae->threshold.grad(), want) < kTol);
  }

  ReconstructionMetrics m;
  m.add(x, terms.forward.reconstruction, terms.forward.features);
  CHECK(m.l0() == Approx(fx.t("metric_l0").item<double>()).epsilon(1e-9));
  CHECK(m.fvu() == Approx(fx.t("metric_fvu").item<double>()).epsilon(1e-5));
  CHECK(m.mse() == Approx(fx.t("metric_mse").item<double>()).epsilon(1e-5));
  CHECK(m.cosine_similarity() == Approx(fx.t("metric_cosine").item<double>()).epsilon(1e-5));
  CHECK(fraction_of_variance_unexplained(x, terms.forward.reconstruction) == Approx(m.fvu()).epsilon(1e-9));
  CHECK(l0_norm(terms.forward.features) == Approx(m.l0()));
  CHECK(mean_cosine_similarity(x, terms.forward.reconstruction) == Approx(m.cosine_similarity()).epsilon(1e-9));
}

TEST_CASE("AuxK loss: no b_dec, detached residual, gradient to dead encoder columns, scale", "[sae][formulas][auxk]") {
  const std::string arch = GENERATE(as<std::string>{}, "topk", "batchtopk");
  INFO("architecture " << arch);
  Fixture fx(arch);
  const auto x = fx.t("x");
  const auto dead = fx.t("dead_mask").to(torch::kBool);
  auto opts = fx.loss_options();

  auto out = fx.sae->forward(x);
  const auto aux = auxk_loss(out.pre, x - out.reconstruction, dead, fx.sae->W_dec, opts.k_aux);
  require_scalar_close(aux, fx.t("loss_auxk"), "auxk");
  aux.backward();
  const auto g_enc = fx.sae->W_enc.grad();
  CHECK(max_abs_diff(g_enc, fx.t("auxk_grad_W_enc")) < kTol);
  CHECK(max_abs_diff(fx.sae->W_dec.grad(), fx.t("auxk_grad_W_dec")) < kTol);
  // Only dead latents' encoder columns get gradient (the residual target is detached), and
  // every dead one that was selected does (sparsify's fused encoder drops this gradient).
  const auto col_has_grad = g_enc.abs().sum(0) > 0;
  CHECK((col_has_grad & ~dead).sum().item<int64_t>() == 0);
  CHECK(col_has_grad.sum().item<int64_t>() > 0);
  // The decoder bias receives no AuxK gradient except through the encoder input (x − b_dec).
  // Scale min(n_dead / k_aux, 1) with only 3 dead latents.
  const auto few = fx.t("few_dead_mask").to(torch::kBool);
  require_scalar_close(auxk_loss(out.pre.detach(), (x - out.reconstruction).detach(), few, fx.sae->W_dec.detach(), opts.k_aux),
                       fx.t("loss_auxk_few_dead"), "auxk few dead");
  // Nothing dead: zero.
  CHECK(auxk_loss(out.pre, x - out.reconstruction, torch::zeros_like(dead), fx.sae->W_dec, opts.k_aux).item<double>() == 0.0);

  // training_loss wires it with the coefficient.
  for (auto& p : fx.sae->parameters()) p.mutable_grad() = torch::Tensor();
  const auto terms = training_loss(*fx.sae, x, opts, dead);
  require_scalar_close(terms.auxiliary, fx.t("loss_auxk"), "auxk via training_loss");
  require_scalar_close(terms.total, fx.t("loss_reconstruction") + opts.auxk_coefficient * fx.t("loss_auxk"), "total");
}

TEST_CASE("BatchTopK at inference uses the global threshold", "[sae][formulas]") {
  Fixture fx("batchtopk");
  fx.sae->eval();
  REQUIRE(fx.sae->batch_topk_threshold().item<double>() == Approx(fx.t("param_batch_threshold").item<double>()));
  const auto f = fx.sae->encode(fx.t("x"));
  CHECK(max_abs_diff(f, fx.t("features_inference")) < kTol);

  // Training mode keeps exactly k * B entries over the batch (not k per row).
  fx.sae->train();
  const auto ft = fx.sae->encode(fx.t("x"));
  CHECK((ft != 0).sum().item<int64_t>() == fx.sae->config().k * ft.size(0));
  CHECK(((ft != 0).sum(-1) != fx.sae->config().k).any().item<bool>());

  // EMA update: θ ← 0.99 θ + 0.01 min(positive features).
  const double before = fx.sae->batch_topk_threshold().item<double>();
  const double batch_min = ft.masked_select(ft > 0).min().item<double>();
  fx.sae->update_batch_topk_threshold(ft);
  CHECK(fx.sae->batch_topk_threshold().item<double>() == Approx(0.99 * before + 0.01 * batch_min).epsilon(1e-12));
  CHECK(fx.sae->batch_topk_threshold().scalar_type() == torch::kFloat64);
}

TEST_CASE("JumpReLU and step STE gradients follow the rectangle kernel", "[sae][formulas][jumprelu]") {
  // Hand-checkable: θ = 1, ε = 0.5; π = 0.8 (|π−θ|/ε = 0.4 < 0.5: in the kernel), 1.1 (in,
  // above θ), 2.0 (outside, above), 0.0 (outside, below).
  auto pre = torch::tensor({0.8f, 1.1f, 2.0f, 0.0f}).reshape({1, 4}).requires_grad_(true);
  auto theta = torch::ones({4}).requires_grad_(true);
  auto f = jumprelu(pre, theta, 0.5);
  CHECK(max_abs_diff(f, torch::tensor({0.0f, 1.1f, 2.0f, 0.0f}).reshape({1, 4})) == 0.0);
  f.sum().backward();
  CHECK(max_abs_diff(pre.grad(), torch::tensor({0.0f, 1.0f, 1.0f, 0.0f}).reshape({1, 4})) == 0.0);
  CHECK(max_abs_diff(theta.grad(), torch::tensor({-2.0f, -2.0f, 0.0f, 0.0f})) < 1e-7);  // −θ/ε

  pre.mutable_grad() = torch::Tensor();
  theta.mutable_grad() = torch::Tensor();
  auto s = heaviside_step(pre, theta, 0.5);
  s.sum().backward();
  CHECK(max_abs_diff(pre.grad(), torch::zeros({1, 4})) == 0.0);
  CHECK(max_abs_diff(theta.grad(), torch::tensor({-2.0f, -2.0f, 0.0f, 0.0f})) < 1e-7);  // −1/ε
}
