// End to end on synthetic data with a known answer: x = sparse non-negative codes @ a random
// unit-norm dictionary + noise. A TopK SAE trained with Adam (decoder renormalised, radial
// gradient removed, AuxK on latents unused for a while) must recover the planted atoms.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "fpokit/sae/sae_losses.h"
#include "fpokit/sae/sae_metrics.h"
#include "fpokit/sae/sparse_autoencoder.h"

// After every LibTorch header: c10 defines its own CHECK.
#include <catch2/catch.hpp>

using namespace fpokit::sae;

namespace {

struct Synthetic {
  torch::Tensor dictionary;  // [n_atoms, d]
  torch::Generator gen;
  int64_t k = 3;

  torch::Tensor sample(int64_t batch) {
    const int64_t n_atoms = dictionary.size(0);
    const auto scores = torch::rand({batch, n_atoms}, gen);
    const auto idx = std::get<1>(scores.topk(k, -1));  // k distinct random atoms per sample
    const auto mags = torch::rand({batch, k}, gen) + 0.5;
    const auto codes = torch::zeros({batch, n_atoms}).scatter(-1, idx, mags);
    return codes.matmul(dictionary) + 0.01 * torch::randn({batch, dictionary.size(1)}, gen);
  }
};

}  // namespace

TEST_CASE("TopK SAE recovers a planted dictionary", "[sae][planted]") {
  // Tiny matrices: one thread avoids oversubscription on a shared machine (~10x faster).
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const int64_t d = 16, n_atoms = 32, d_sae = 64;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  auto dict = torch::randn({n_atoms, d}, gen);
  dict = dict / dict.norm(2, 1, true);
  Synthetic data{dict, gen};

  SaeConfig cfg;
  cfg.architecture = Architecture::TopK;
  cfg.d_in = d;
  cfg.d_sae = d_sae;
  cfg.k = 3;
  SparseAutoencoder sae(cfg);
  initialize_weights(*sae, default_init_options(cfg.architecture, 1));
  {
    torch::NoGradGuard g;
    sae->b_dec.copy_(data.sample(2048).mean(0));  // sparsify: b_dec = mean of the first batch
  }
  sae->train();
  torch::optim::Adam opt(sae->parameters(), torch::optim::AdamOptions(3e-3));
  LossOptions lo;
  lo.k_aux = d / 2;
  auto steps_since_fired = torch::zeros({d_sae}, torch::kInt64);
  for (int step = 0; step < 600; ++step) {
    const auto x = data.sample(256);
    const auto dead = steps_since_fired > 20;
    auto terms = training_loss(*sae, x, lo, dead);
    opt.zero_grad();
    terms.total.backward();
    remove_decoder_gradient_parallel(sae->W_dec);
    opt.step();
    normalize_decoder_rows(sae->W_dec);
    const auto fired = (terms.forward.features > 0).any(0);
    steps_since_fired = torch::where(fired, torch::zeros_like(steps_since_fired), steps_since_fired + 1);
  }
  // For each planted atom, the best cosine with any decoder row.
  const auto W = sae->W_dec.detach();
  const auto cos = dict.matmul((W / W.norm(2, 1, true)).t());  // [n_atoms, d_sae]
  const double mean_best = std::get<0>(cos.max(1)).mean().item<double>();
  INFO("mean best cosine " << mean_best);
  CHECK(mean_best >= 0.9);

  sae->eval();
  const auto x = data.sample(4096);
  const auto out = sae->forward(x);
  ReconstructionMetrics m;
  m.add(x, out.reconstruction, out.features);
  INFO("FVU " << m.fvu() << ", L0 " << m.l0());
  CHECK(m.fvu() < 0.15);
  CHECK(m.l0() <= 3.0);
  torch::set_num_threads(saved_threads);
}
