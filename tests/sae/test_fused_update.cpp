// The trainer's fused CPU update (fused_update.h) must equal the unfused ops it replaces — the
// decoder-gradient projection, core::clip_grad_norm, torch::optim::Adam and the decoder-row
// renormalisation — over many steps, with and without clipping, for unit-norm and free decoders.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/train/gradient_clipping.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "fpokit/sae/training/fused_update.h"
#include "sae_test_util.h"

using namespace fpokit::sae;
using fpokit::test::max_abs_diff;

namespace {

SparseAutoencoder make_sae(Architecture arch, int64_t d_in, int64_t d_sae) {
  SaeConfig c;
  c.architecture = arch;
  c.d_in = d_in;
  c.d_sae = d_sae;
  c.k = 4;
  SparseAutoencoder sae(c);
  initialize_weights(*sae, default_init_options(arch, 5));
  return sae;
}

void copy_parameters(SparseAutoencoderImpl& to, SparseAutoencoderImpl& from) {
  torch::NoGradGuard no_grad;
  auto a = to.parameters();
  auto b = from.parameters();
  for (size_t i = 0; i < a.size(); ++i) a[i].copy_(b[i]);
}

torch::optim::Adam make_adam(SparseAutoencoderImpl& sae) {
  return torch::optim::Adam(sae.parameters(), torch::optim::AdamOptions(1e-3).betas({0.9, 0.999}).eps(1e-8));
}

}  // namespace

TEST_CASE("the fused update equals projection, clipping, Adam and renormalisation as separate ops",
          "[sae][fused_update]") {
  const auto arch = GENERATE(Architecture::TopK, Architecture::ReLU, Architecture::JumpReLU);
  const double max_grad_norm = GENERATE(0.0, 1.0, 0.05);
  // A width over one vector block and not a multiple of 16, so the tails run too.
  const int64_t d_in = 37, d_sae = 300;
  auto fused = make_sae(arch, d_in, d_sae);
  auto reference = make_sae(arch, d_in, d_sae);
  copy_parameters(*reference, *fused);
  auto fused_adam = make_adam(*fused);
  auto reference_adam = make_adam(*reference);
  REQUIRE(can_fuse_update(*fused, fused_adam));
  const bool unit_norm = arch != Architecture::ReLU;

  torch::manual_seed(21);
  for (int step = 0; step < 25; ++step) {
    const double lr = 1e-3 * (1.0 + 0.1 * step);
    auto fused_params = fused->parameters();
    auto reference_params = reference->parameters();
    for (size_t i = 0; i < fused_params.size(); ++i) {
      // b_enc has no gradient on odd steps: Adam skips it, and so must the fused update.
      if (step % 2 == 1 && fused_params[i].is_same(fused->b_enc)) {
        fused_params[i].mutable_grad() = torch::Tensor();
        reference_params[i].mutable_grad() = torch::Tensor();
        continue;
      }
      const auto g = torch::randn_like(fused_params[i]) * 0.1;
      fused_params[i].mutable_grad() = g.clone();
      reference_params[i].mutable_grad() = g.clone();
    }

    UpdateSettings settings;
    settings.lr = lr;
    settings.max_grad_norm = max_grad_norm;
    settings.unit_norm_decoder = unit_norm;
    const double fused_norm = fused_update(*fused, fused_adam, settings);

    if (unit_norm) remove_decoder_gradient_parallel(reference->W_dec);
    const double reference_norm = fpokit::core::clip_grad_norm(reference->parameters(), max_grad_norm).item<double>();
    for (auto& group : reference_adam.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    reference_adam.step();
    if (unit_norm) normalize_decoder_rows(reference->W_dec);

    CHECK(fused_norm == Approx(reference_norm).epsilon(1e-5));
    for (size_t i = 0; i < fused_params.size(); ++i) REQUIRE(max_abs_diff(fused_params[i], reference_params[i]) < 2e-6);
  }
  // The optimizer state is Adam's own (a checkpoint saved after fused steps resumes unfused).
  const auto fused_params = fused->parameters();
  const auto reference_params = reference->parameters();
  for (size_t i = 0; i < fused_params.size(); ++i) {
    const auto& s =
        static_cast<torch::optim::AdamParamState&>(*fused_adam.state().at(fused_params[i].unsafeGetTensorImpl()));
    const auto& r = static_cast<torch::optim::AdamParamState&>(
        *reference_adam.state().at(reference_params[i].unsafeGetTensorImpl()));
    CHECK(s.step() == r.step());
    CHECK(s.step() == (fused_params[i].is_same(fused->b_enc) ? 13 : 25));
    CHECK(max_abs_diff(s.exp_avg_sq(), r.exp_avg_sq()) < 1e-7);
  }
  if (unit_norm) CHECK(max_abs_diff(fused->W_dec.norm(2, 1), torch::ones({d_sae})) < 1e-5);
}

TEST_CASE("the fused update declines what it does not implement", "[sae][fused_update]") {
  auto sae = make_sae(Architecture::TopK, 8, 16);
  auto decayed = torch::optim::Adam(sae->parameters(), torch::optim::AdamOptions(1e-3).weight_decay(0.01));
  CHECK_FALSE(can_fuse_update(*sae, decayed));
  auto amsgrad = torch::optim::Adam(sae->parameters(), torch::optim::AdamOptions(1e-3).amsgrad(true));
  CHECK_FALSE(can_fuse_update(*sae, amsgrad));
  auto plain = make_adam(*sae);
  CHECK(can_fuse_update(*sae, plain));
  sae->to(torch::kFloat64);
  CHECK_FALSE(can_fuse_update(*sae, plain));
}
