// End to end on synthetic data with a known answer (synthetic_source.h): each architecture,
// trained by SaeTrainer with its recipe, must recover the planted atoms (mean over atoms of the
// best cosine with a decoder row >= 0.9) at the expected L0.
#include <torch/torch.h>

#include "fpokit/core/train/autocast_scope.h"
#include "fpokit/sae/eval/sae_metrics.h"
#include "fpokit/sae/training/sae_trainer.h"
#include "sae_test_util.h"
#include "synthetic_source.h"

// After every LibTorch header: c10 defines its own CHECK.
#include <catch2/catch.hpp>

using namespace fpokit::sae;
using fpokit::test::PlantedDictionarySource;
using fpokit::test::TempDir;

namespace {

struct ThreadLimit {  // tiny matrices: one thread avoids oversubscription on a shared machine
  int saved = torch::get_num_threads();
  ThreadLimit() { torch::set_num_threads(1); }
  ~ThreadLimit() { torch::set_num_threads(saved); }
};

double mean_best_cosine(const torch::Tensor& dictionary, const torch::Tensor& W_dec) {
  const auto W = W_dec.detach();
  const auto cos = dictionary.matmul((W / W.norm(2, 1, true).clamp_min(1e-12)).t());
  return std::get<0>(cos.max(1)).mean().item<double>();
}

// The recipe both tests train with on the planted dictionary (d_in 16).
TrainerOptions planted_recipe(int64_t d) {
  TrainerOptions o;
  o.batch_tokens = 256;
  o.total_tokens = 256 * 1200;
  o.buffer_tokens = 4096;
  o.lr = 3e-3;
  o.dead_tokens = 256 * 20;
  o.k_aux = d / 2;
  o.log_every_steps = 0;
  o.l1_coefficient = 1.0;
  o.l0_coefficient = 0.1;
  o.jumprelu_initial_threshold = 0.05;
  o.b_dec_init = DecoderBiasInit::Mean;
  return o;
}

}  // namespace

TEST_CASE("every architecture recovers a planted dictionary", "[sae][planted][trainer]") {
  ThreadLimit threads;
  const int64_t d = 16, n_atoms = 32, d_sae = 64, k_true = 3;
  const auto arch = GENERATE(Architecture::TopK, Architecture::BatchTopK, Architecture::ReLU, Architecture::JumpReLU,
                             Architecture::Gated);
  DYNAMIC_SECTION(architecture_name(arch)) {
    PlantedDictionarySource source(d, n_atoms, k_true, 1 << 30);
    const TrainerOptions o = planted_recipe(d);
    SaeSpec spec;
    spec.name = "sae";
    spec.config.architecture = arch;
    spec.config.d_sae = d_sae;
    spec.config.k = k_true;
    TempDir out;
    SaeTrainer trainer(o, {spec}, source, out.path());
    trainer.initialize();
    REQUIRE(trainer.run());
    auto& sae = trainer.sae(0);
    const double best = mean_best_cosine(source.dictionary(), sae.W_dec);
    INFO("mean best cosine " << best);
    CHECK(best >= 0.9);

    sae.eval();
    source.rewind();
    const auto x = source.next()->activations[0];
    torch::NoGradGuard g;
    const auto f = sae.forward(sae.normalize_input(x));
    ReconstructionMetrics m;
    m.add(sae.normalize_input(x), f.reconstruction, f.features);
    INFO("FVU " << m.fvu() << ", L0 " << m.l0());
    // L1 shrinks magnitudes: the ReLU recipe pays for its sparsity in FVU.
    CHECK(m.fvu() < (arch == Architecture::ReLU ? 0.35 : 0.2));
    CHECK(m.l0() >= 0.5 * k_true);
    CHECK(m.l0() <= 2.0 * k_true);
  }
}

TEST_CASE("bf16 autocast on the CPU recovers the planted dictionary as float32 does", "[sae][planted][trainer][bf16]") {
  ThreadLimit threads;
  const int64_t d = 16, n_atoms = 32, d_sae = 64, k_true = 3;
  const auto arch = GENERATE(Architecture::TopK, Architecture::BatchTopK, Architecture::ReLU);
  struct Result {
    double best_cosine, fvu;
    torch::Tensor W_enc;
  };
  auto train = [&](bool bf16, SparseAutoencoder* keep) {
    PlantedDictionarySource source(d, n_atoms, k_true, 1 << 30);
    TrainerOptions o = planted_recipe(d);  // l0/θ settings: JumpReLU only, unused here
    o.autocast_bf16 = bf16;
    SaeSpec spec;
    spec.name = "sae";
    spec.config.architecture = arch;
    spec.config.d_sae = d_sae;
    spec.config.k = k_true;
    TempDir out;
    SaeTrainer trainer(o, {spec}, source, out.path());
    trainer.initialize();
    REQUIRE(trainer.run());
    auto& sae = trainer.sae(0);
    sae.eval();
    source.rewind();
    const auto x = sae.normalize_input(source.next()->activations[0]);
    torch::NoGradGuard g;
    const auto f = sae.forward(x);
    ReconstructionMetrics m;
    m.add(x, f.reconstruction, f.features);
    if (keep) {  // a copy that outlives the trainer
      *keep = SparseAutoencoder(sae.config());
      auto to_params = (*keep)->named_parameters();
      for (const auto& p : sae.named_parameters()) to_params[p.key()].copy_(p.value());
      auto to_buffers = (*keep)->named_buffers();
      for (const auto& b : sae.named_buffers()) to_buffers[b.key()].copy_(b.value());
      (*keep)->eval();
    }
    return Result{mean_best_cosine(source.dictionary(), sae.W_dec), m.fvu(), sae.W_enc.detach().clone()};
  };
  DYNAMIC_SECTION(architecture_name(arch)) {
    SparseAutoencoder trained_fp32(nullptr);
    const auto fp32 = train(false, &trained_fp32);
    const auto bf16 = train(true, nullptr);
    INFO("best cosine " << fp32.best_cosine << " (fp32) " << bf16.best_cosine << " (bf16); FVU " << fp32.fvu << " / "
                        << bf16.fvu);
    CHECK(!torch::equal(fp32.W_enc, bf16.W_enc));  // bf16 really ran: the trajectories differ
    CHECK(bf16.best_cosine >= 0.9);
    CHECK(std::abs(bf16.best_cosine - fp32.best_cosine) <= 0.01);
    CHECK(bf16.fvu <= fp32.fvu * 1.05 + 1e-3);

    if (arch == Architecture::TopK) {
      // The float32-trained SAE encodes fresh tokens under bf16 autocast and in float32: the
      // selected latents agree on >= 99 % of (token, latent) pairs.
      PlantedDictionarySource fresh(d, n_atoms, k_true, 1 << 30);
      fresh.seek({{"block", 1000}});  // past the 600 blocks training read
      const auto x = trained_fp32->normalize_input(fresh.next()->activations[0]);
      torch::NoGradGuard g;
      const auto f32 = trained_fp32->encode(x) > 0;
      torch::Tensor fb;
      {
        fpokit::core::AutocastScope autocast(c10::DeviceType::CPU, c10::ScalarType::BFloat16);
        fb = trained_fp32->encode(x) > 0;
      }
      const double both = (f32 & fb).sum().item<double>();
      const double either = (f32 | fb).sum().item<double>();
      INFO("selected in both " << both << " of " << either);
      CHECK(both / either >= 0.99);
    }
  }
}
