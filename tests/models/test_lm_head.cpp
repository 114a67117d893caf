// The LM head shared by every architecture (CausalLMImpl::logits) and the backbone/head split:
// forward = logits(hidden_states), the head applied to some positions gives exactly those
// positions' logits (generation's last position), and tied heads read the input embedding.
// Whether the logits are right is test_model_parity's job (HF references); this is the split.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/load_model.h"
#include "model_fixtures.h"

using namespace fpokit;

TEST_CASE("forward is the shared head on the backbone's hidden states, for every architecture", "[models][lm_head]") {
  const auto fixture = GENERATE(from_range(test::model_fixture_names()));
  DYNAMIC_SECTION(fixture) {
    auto model = lm::load_model(test::model_fixture(fixture), {torch::kCPU, torch::kFloat32});
    torch::NoGradGuard no_grad;
    const auto& c = model->config();
    const auto ids = torch::randint(0, c.vocab_size, {2, 7}, torch::kInt64);
    const auto logits = model->forward({ids, {}});
    const auto hidden = model->hidden_states({ids, {}});
    REQUIRE(hidden.sizes() == torch::IntArrayRef({2, 7, c.hidden_size}));
    CHECK(torch::equal(model->logits(hidden), logits));
    // The head on one position: that position's logits (up to the matmul's blocking).
    const auto last = model->logits(hidden.select(1, 6));
    CHECK(torch::allclose(last, logits.select(1, 6), 1e-5, 1e-5));
    // Soft-capped architectures never exceed the cap.
    if (c.final_logit_softcapping > 0) CHECK(logits.abs().max().item<double>() <= c.final_logit_softcapping);
    // A tied head has no parameter of its own: the embedding is the only [vocab, hidden] matrix.
    int64_t vocab_matrices = 0;
    for (const auto& p : model->named_parameters())
      if (p.value().dim() == 2 && p.value().size(0) == c.vocab_size && p.value().size(1) == c.hidden_size)
        ++vocab_matrices;
    CHECK(vocab_matrices == (c.tie_word_embeddings ? 1 : 2));
  }
}
