// Activation checkpointing (lm/activation_checkpoint.h) leaves every gradient unchanged, on every
// architecture, with LoRA dropout drawing random masks inside the recomputed blocks, with a read
// hook at hook_resid_post that back-propagates (FPO's SAE features), and it really recomputes.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/lm/model/activation_checkpoint.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "models/model_fixtures.h"

using namespace fpokit;

namespace {

// Gradients of a loss that uses the logits and a hooked activation, after one backward.
std::map<std::string, torch::Tensor> gradients(const std::string& fixture, bool checkpointing, bool lora) {
  auto model = lm::load_model(test::model_fixture(fixture), {torch::kCPU, torch::kFloat32});
  model->train();
  model->set_gradient_checkpointing(checkpointing);
  std::optional<lm::LoraAdapters> adapters;
  if (lora) {
    lm::LoraOptions o;
    o.r = 2;
    o.dropout = 0.3;
    o.targets.clear();
    o.target_regex = ".*(q_proj|v_proj|query_key_value|dense_4h_to_h|down_proj|c_attn|c_fc)$";
    o.seed = 1;
    adapters = lm::LoraAdapters::attach(*model, o);
    torch::NoGradGuard g;
    torch::manual_seed(3);
    for (auto& p : adapters->parameters()) p.uniform_(-0.3, 0.3);
  }
  torch::manual_seed(11);
  const auto ids = torch::randint(0, model->config().vocab_size, {2, 9}, torch::kInt64);
  auto mask = torch::ones({2, 9}, torch::kInt64);
  mask.index_put_({1, torch::indexing::Slice(6)}, 0);
  lm::Hooks hooks;
  const auto hook = lm::HookName::parse("blocks.0.hook_resid_post");
  hooks.capture(hook);
  torch::manual_seed(5);  // the dropout masks
  const auto logits = model->forward({ids, mask}, &hooks);
  const auto loss = logits.log_softmax(-1).select(-1, 3).sum() + hooks.captured().at(hook).pow(2).mean();
  loss.backward();
  std::map<std::string, torch::Tensor> out;
  if (adapters) {
    for (const auto& [name, t] : adapters->named_parameters()) out[name] = t.grad().clone();
  } else {
    for (const auto& p : model->named_parameters())
      if (p.value().grad().defined()) out[p.key()] = p.value().grad().clone();
  }
  return out;
}

}  // namespace

TEST_CASE("activation checkpointing gives the gradients of the plain backward", "[models][checkpointing]") {
  const auto fixture = GENERATE(std::string("llama-gqa"), std::string("gemma2-swa-softcap"), std::string("gpt2"),
                                std::string("pythia-parallel"), std::string("neox-sequential"));
  const bool lora = GENERATE(false, true);
  DYNAMIC_SECTION(fixture << (lora ? " lora" : "")) {
    const auto plain = gradients(fixture, false, lora);
    const auto checkpointed = gradients(fixture, true, lora);
    REQUIRE(plain.size() == checkpointed.size());
    REQUIRE(plain.size() > 0);
    for (const auto& [name, g] : plain) {
      INFO(name);
      REQUIRE(checkpointed.count(name));
      CHECK(g.abs().sum().item<double>() > 0);
      INFO("max diff " << (checkpointed.at(name) - g).abs().max().item<double>() << " max " << g.abs().max().item<double>());
      // Equal up to float32 summation order (the inner backward accumulates the gradients of
      // parameters used in several places in another order); a wrong dropout mask or a lost
      // gradient path would differ by the size of the gradient itself.
      const double scale = g.abs().max().item<double>();
      CHECK((checkpointed.at(name) - g).abs().max().item<double>() <= 1e-5 * scale + 1e-7);
    }
  }
}

TEST_CASE("checkpoint_block recomputes the block in the backward", "[models][checkpointing]") {
  int calls = 0;
  auto w = torch::randn({4, 4}, torch::requires_grad());
  const auto x = torch::randn({3, 4}, torch::requires_grad());
  const auto y = lm::checkpoint_block([&](const torch::Tensor& t) { ++calls; return torch::tanh(t.matmul(w)); }, x);
  CHECK(calls == 1);
  y.sum().backward();
  CHECK(calls == 2);
  const auto wg = w.grad().clone(), xg = x.grad().clone();
  w.grad().zero_();
  x.grad().zero_();
  torch::tanh(x.matmul(w)).sum().backward();
  CHECK(torch::allclose(wg, w.grad()));
  CHECK(torch::allclose(xg, x.grad()));
}
