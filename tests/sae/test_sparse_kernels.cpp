// The sparse TopK/BatchTopK training path (sparse_kernels.h) must give the dense path's loss and
// gradients, AuxK included.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/sae/model/sae_losses.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "sae_test_util.h"

using namespace fpokit::sae;
using fpokit::test::max_abs_diff;

TEST_CASE("sparse TopK and BatchTopK training path equals the dense path", "[sae][sparse]") {
  const auto arch = GENERATE(Architecture::TopK, Architecture::BatchTopK);
  const bool apply_b_dec = GENERATE(true, false);
  // AuxK over the 15 dead latents: gathers (limit 0) and dense products over their columns (auto).
  const int64_t auxk_dense_dead_limit = GENERATE(0, -1);
  SaeConfig c;
  c.architecture = arch;
  c.d_in = 12;
  c.d_sae = 40;
  c.k = 4;
  c.apply_b_dec_to_input = apply_b_dec;
  SparseAutoencoder sae(c);
  initialize_weights(*sae, default_init_options(arch, 3));
  torch::manual_seed(9);
  {
    torch::NoGradGuard g;
    sae->b_enc.copy_(torch::randn({40}) * 0.1);
    sae->b_dec.copy_(torch::randn({12}) * 0.1);
  }
  sae->train();
  const auto x = torch::randn({32, 12});
  auto dead = torch::zeros({40}, torch::kBool);
  dead.slice(0, 0, 15).fill_(true);

  auto grads = [&](bool sparse) {
    LossOptions lo;
    lo.k_aux = 6;
    lo.sparse_kernels = sparse;
    lo.auxk_dense_dead_limit = auxk_dense_dead_limit;
    for (auto& p : sae->parameters()) p.mutable_grad() = torch::Tensor();
    auto t = training_loss(*sae, x, lo, dead);
    t.total.backward();
    std::vector<torch::Tensor> out{t.total.detach(), t.reconstruction.detach(), t.auxiliary.detach(),
                                   t.forward.reconstruction.detach()};
    for (auto& p : sae->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  const auto dense = grads(false);
  const auto sparse = grads(true);
  REQUIRE(dense.size() == sparse.size());
  CHECK(dense[2].item<double>() > 0);  // the aux term is exercised
  const char* names[] = {"total", "reconstruction", "auxiliary", "x_hat", "W_enc", "b_enc", "W_dec", "b_dec"};
  for (size_t i = 0; i < dense.size(); ++i) {
    INFO(names[i]);
    CHECK(max_abs_diff(dense[i], sparse[i]) < 1e-5);
  }
}
