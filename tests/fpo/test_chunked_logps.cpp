// The chunked log-prob head (lm/model/chunked_token_logps.h, --logits-chunk-size) against the
// full-logits path: the same log-probs, KL, metrics and gradients (hidden states, LM head, tied
// embeddings, soft-capped heads, LoRA), on every architecture fixture and every method, within
// 1e-5 relative. The chunk sizes include 1 (every position alone) and one that does not divide N.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>

#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/lm/model/chunked_token_logps.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/log_probs.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "fpo/trainer_options.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;

namespace {

const std::vector<std::string> kArchitectures = {"gemma2-legacy",      "gemma2-swa-softcap", "gpt2",
                                                 "gpt2-openai-layout", "llama-gqa",          "llama-linear-rope-bias",
                                                 "llama3-tied",        "mistral-sliding",    "neox-sequential",
                                                 "pythia-parallel",    "qwen2-tied"};

// Within 1e-5 relative: elementwise |a - b| <= 1e-5 (|b| + max|b|) (an element near 0 of a gradient
// summed over many positions carries the rounding of the tensor's scale, not its own), and
// ||a - b|| <= 1e-5 ||b|| over the whole tensor.
void check_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  INFO(what);
  REQUIRE(a.defined() == b.defined());
  if (!a.defined()) return;
  REQUIRE(a.sizes() == b.sizes());
  const auto a64 = a.detach().to(torch::kFloat64), b64 = b.detach().to(torch::kFloat64);
  const auto diff = (a64 - b64).abs();
  const double scale = b64.numel() > 0 ? b64.abs().max().item<double>() : 0.0;
  INFO("max |a - b| = " << (diff.numel() > 0 ? diff.max().item<double>() : 0.0) << ", max |b| = " << scale);
  if (diff.numel() == 0) return;
  CHECK((diff - 1e-5 * (b64.abs() + scale)).max().item<double>() <= 0.0);
  CHECK(diff.norm().item<double>() <= 1e-5 * b64.norm().item<double>() + 1e-12);
}

std::vector<TokenizedPair> random_pairs(int n, int64_t vocab, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<TokenizedPair> out;
  for (int i = 0; i < n; ++i) {
    const int64_t prompt_len = 2 + i % 4;
    TokenizedPair p;
    const auto prompt = torch::randint(3, vocab, {prompt_len}, gen);
    for (int64_t t = 0; t < prompt_len; ++t) {
      p.chosen.input_ids.push_back(prompt[t].item<int64_t>());
      p.chosen.completion_mask.push_back(0);
    }
    p.rejected = p.chosen;
    // Every fifth pair parts a token before the prompt ends, as when a tokenizer merges across
    // the prompt/completion boundary of one side: only the common prefix may be shared.
    if (i % 5 == 3) p.rejected.input_ids.back() = (p.rejected.input_ids.back() + 1) % vocab;
    for (auto* side : {&p.chosen, &p.rejected}) {
      const int64_t len = 1 + (i + (side == &p.chosen ? 1 : 2)) % 4;
      const auto completion = torch::randint(3, vocab, {len}, gen);
      for (int64_t t = 0; t < len; ++t) {
        side->input_ids.push_back(completion[t].item<int64_t>());
        side->completion_mask.push_back(1);
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

PairBatch batch_of(const std::vector<TokenizedPair>& pairs) {
  std::vector<const TokenizedPair*> ptrs;
  for (const auto& p : pairs) ptrs.push_back(&p);
  return collate_pairs(ptrs, 0);
}

sae::SparseAutoencoder probe_sae(int64_t d_in) {
  sae::SaeConfig c;
  c.architecture = sae::Architecture::TopK;
  c.d_in = d_in;
  c.d_sae = 2 * d_in;
  c.k = 8;
  c.hook_name = "blocks.1.hook_resid_post";
  sae::SparseAutoencoder s(c);
  sae::initialize_weights(*s, sae::default_init_options(c.architecture, 3));
  s->eval();
  return s;
}

// Every quantity the losses read, weighted by fixed random numbers into one scalar, so that its
// gradient exercises each output's backward.
torch::Tensor weighted_outputs(const PairForward& f) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  torch::Tensor total = torch::zeros({}, torch::kFloat32);
  const auto add = [&](const torch::Tensor& t) {
    if (!t.defined()) return;
    total = total + (t.to(torch::kFloat32) * torch::randn(t.sizes(), gen)).sum();
  };
  for (const auto* s : {&f.chosen, &f.rejected}) {
    add(s->sum);
    add(s->mean);
    add(s->kl);
    add(s->token_logps);
  }
  add(f.pooled_chosen);
  add(f.pooled_rejected);
  add(f.chosen_sequence_nll);
  return total;
}

struct Outcome {
  PairForward forward;
  std::map<std::string, torch::Tensor> grads;
};

enum class Extra { None, OrpoNll, TdpoKl, FpoProbe, Lora };

Outcome run_forward(const std::string& arch, int64_t chunk_size, bool share_prompt, Extra extra) {
  const auto dir = test::fixture("models/" + arch);
  auto model = lm::load_model(dir, {torch::kCPU, torch::kFloat32});
  model->train();
  std::optional<lm::LoraAdapters> lora;
  if (extra == Extra::Lora) {
    lm::LoraOptions o;
    o.r = 4;
    o.targets.clear();
    o.target_regex = ".*";  // every Linear and Conv1D, the untied LM head included
    o.seed = 7;
    lora = lm::LoraAdapters::attach(*model, o);
    torch::NoGradGuard g;  // PEFT starts B at zero; move it so that the adapters change the output
    for (auto& [name, t] : lora->named_parameters()) t.add_(0.05 * torch::randn_like(t));
  }
  auto reference = lm::load_model(dir, {torch::kCPU, torch::kFloat32});
  {
    torch::NoGradGuard g;  // a reference that differs from the policy, so that the KL is not 0
    for (auto& p : reference->parameters()) p.add_(0.02 * torch::randn_like(p));
  }
  reference->eval();
  const auto pairs = random_pairs(5, model->config().vocab_size, 17);
  const auto batch = batch_of(pairs);
  const auto probe_module = probe_sae(model->config().hidden_size);
  const FeatureProbe probe{probe_module.get(), lm::HookName::parse("blocks.1.hook_resid_post"), FpoVariant::Paper};

  PairForwardOptions chunking{chunk_size, share_prompt, {}, {}};
  torch::Tensor reference_logits;
  if (extra == Extra::TdpoKl) {
    torch::NoGradGuard g;
    if (chunk_size > 0) {
      chunking.reference_hidden = pair_hidden_states(*reference, batch, share_prompt);
      chunking.reference_head = [r = reference.get()](const torch::Tensor& h) { return r->logits(h); };
    } else {
      reference_logits = reference->forward({batch.input_ids, batch.attention_mask});
    }
  }
  Outcome out;
  torch::manual_seed(3);
  out.forward = forward_pairs(*model, batch, extra == Extra::FpoProbe ? &probe : nullptr, reference_logits, false,
                              extra == Extra::OrpoNll, false, chunking);
  weighted_outputs(out.forward).backward();
  for (const auto& p : model->named_parameters())
    if (p.value().grad().defined()) out.grads[p.key()] = p.value().grad().clone();
  if (lora) {  // the adapters are the only trainable weights; the base stays frozen
    CHECK(out.grads.empty());
    for (const auto& [name, t] : lora->named_parameters())
      if (t.grad().defined()) out.grads[name] = t.grad().clone();
  }
  return out;
}

}  // namespace

TEST_CASE("chunked_token_logps equals log_softmax and gather on the full logits, with gradients", "[fpo][chunked]") {
  torch::manual_seed(0);
  for (const double cap : {0.0, 2.5}) {
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
      const int64_t N = 13, H = 6, V = 37;
      const auto weight = torch::randn({V, H}, torch::dtype(dtype)).requires_grad_(true);
      const auto ref_weight = torch::randn({V, H}, torch::dtype(dtype));
      const auto head = [&](const torch::Tensor& w) {
        return [&w, cap](const torch::Tensor& h) {
          auto z = torch::matmul(h, w.t());
          return cap > 0 ? torch::tanh(z / cap) * cap : z;
        };
      };
      const auto hidden = torch::randn({N, H}, torch::dtype(dtype)).requires_grad_(true);
      const auto ref_hidden = torch::randn({N, H}, torch::dtype(dtype));
      const auto targets = torch::randint(0, V, {N});
      const auto g_logps = torch::randn({N}, torch::dtype(dtype));
      const auto g_kl = torch::randn({N}, torch::dtype(dtype));

      // The full path: logits [N, V], log_softmax, gather, KL.
      const auto logp = lm::log_probs(head(weight)(hidden));
      const auto full_logps = lm::gather_log_probs(logp, targets);
      const auto full_kl = lm::kl_divergence(lm::log_probs(head(ref_weight)(ref_hidden)), logp);
      const auto full_sums = torch::sum(head(weight)(hidden).detach(), {-1}, false, torch::kFloat32);
      torch::autograd::backward({full_logps, full_kl}, {g_logps, g_kl});
      const auto full_grad_hidden = hidden.grad().clone(), full_grad_weight = weight.grad().clone();

      for (const int64_t chunk : {1, 4, 13, 100}) {
        DYNAMIC_SECTION("cap " << cap << " dtype " << dtype << " chunk " << chunk) {
          hidden.mutable_grad().reset();
          weight.mutable_grad().reset();
          lm::TokenLogpsRequest r;
          r.head = head(weight);
          r.hidden = hidden;
          r.targets = targets;
          r.chunk_size = chunk;
          r.reference_head = head(ref_weight);
          r.reference_hidden = ref_hidden;
          const auto got = lm::chunked_token_logps(r);
          CHECK(got.logps.scalar_type() == lm::log_prob_dtype(dtype));
          check_close(got.logps, full_logps, "log-probs");
          check_close(got.kl, full_kl, "KL");
          check_close(got.logit_sums, full_sums, "logit sums");
          torch::autograd::backward({got.logps, got.kl}, {g_logps, g_kl});
          check_close(hidden.grad(), full_grad_hidden, "hidden gradient");
          check_close(weight.grad(), full_grad_weight, "head gradient (from the inner backward)");
          // Without gradient (the reference pass, evaluation): the same values, no graph.
          torch::NoGradGuard no_grad;
          const auto plain = lm::chunked_token_logps(r);
          CHECK_FALSE(plain.logps.requires_grad());
          check_close(plain.logps, full_logps, "no-grad log-probs");
        }
      }
    }
  }
  lm::TokenLogpsRequest bad;
  bad.head = [](const torch::Tensor& h) { return h; };
  bad.hidden = torch::zeros({2, 3});
  bad.targets = torch::zeros({2}, torch::kInt64);
  bad.chunk_size = 0;
  CHECK_THROWS_AS(lm::chunked_token_logps(bad), std::invalid_argument);
  bad.chunk_size = 1;
  bad.targets = torch::zeros({3}, torch::kInt64);
  CHECK_THROWS_AS(lm::chunked_token_logps(bad), std::invalid_argument);
}

TEST_CASE("forward_pairs chunked equals the full-logits path on every architecture", "[fpo][chunked]") {
  const std::vector<std::pair<Extra, const char*>> extras = {{Extra::None, "log-probs"},
                                                             {Extra::OrpoNll, "ORPO NLL"},
                                                             {Extra::TdpoKl, "TDPO KL"},
                                                             {Extra::FpoProbe, "FPO features"},
                                                             {Extra::Lora, "LoRA everywhere"}};
  for (const auto& arch : kArchitectures) {
    for (const auto& [extra, extra_name] : extras) {
      DYNAMIC_SECTION(arch << ": " << extra_name) {
        const auto full = run_forward(arch, 0, false, extra);
        for (const auto& [chunk, share] : {std::pair<int64_t, bool>{1, false}, {7, false}, {0, true}, {7, true}}) {
          INFO("chunk " << chunk << (share ? ", shared prompt" : ""));
          const auto got = run_forward(arch, chunk, share, extra);
          for (const auto& [side, a, b] : {std::tuple{"chosen", &got.forward.chosen, &full.forward.chosen},
                                           std::tuple{"rejected", &got.forward.rejected, &full.forward.rejected}}) {
            INFO(side);
            check_close(a->token_logps, b->token_logps, "token log-probs");
            check_close(a->sum, b->sum, "sum");
            check_close(a->mean, b->mean, "mean");
            check_close(a->num_tokens, b->num_tokens, "num_tokens");
            check_close(a->kl, b->kl, "kl");
          }
          check_close(got.forward.mean_logits_chosen, full.forward.mean_logits_chosen, "logits/chosen");
          check_close(got.forward.mean_logits_rejected, full.forward.mean_logits_rejected, "logits/rejected");
          check_close(got.forward.chosen_sequence_nll, full.forward.chosen_sequence_nll, "ORPO NLL");
          check_close(got.forward.pooled_chosen, full.forward.pooled_chosen, "pooled features");
          REQUIRE(got.grads.size() == full.grads.size());
          REQUIRE_FALSE(got.grads.empty());
          for (const auto& [name, g] : full.grads) {
            REQUIRE(got.grads.count(name) == 1);
            check_close(got.grads.at(name), g, "gradient of " + name);
          }
        }
      }
    }
  }
}

TEST_CASE("every method trains the same with the chunked head as with full logits", "[fpo][chunked]") {
  const auto sae_module = test::random_fixture_sae();
  for (const auto method : {Method::Dpo, Method::Ipo, Method::Hinge, Method::Robust, Method::Simpo, Method::Tdpo1,
                            Method::Tdpo2, Method::Kto, Method::Orpo, Method::Sft, Method::Fpo}) {
    DYNAMIC_SECTION(method_name(method)) {
      const auto run = [&](int64_t chunk, bool share) {
        auto o = test::constant_lr_options(method, 0.5, 3, 4);
        o.logits_chunk_size = chunk;
        o.share_prompt = share;
        // AdamW with an epsilon far above |g|: a step proportional to the gradient, not Adam's
        // usual ~sign(g), which would turn rounding noise around g = 0 into whole steps.
        o.adam_epsilon = 1.0;
        o.loss.fpo.top_k = 16;
        FeatureProbe probe;
        if (method == Method::Fpo)
          probe = {sae_module.get(), lm::HookName::parse("blocks.1.hook_resid_post"), FpoVariant::Paper};
        const auto dir = test::fixture("models/llama-gqa");
        auto policy = lm::load_model(dir, {torch::kCPU, torch::kFloat32});
        PreferenceTrainer t(o, policy, random_pairs(8, 300, 23), probe);
        if (method == Method::Kto) t.use_kto_labels({1, 0, 1, 1, 0, 1, 0, 0});
        t.precompute_reference(lm::load_model(dir, {torch::kCPU, torch::kFloat32}));
        std::vector<std::map<std::string, double>> logged;
        t.train([&](const StepMetrics& m) { logged.push_back(m.values); });
        return std::make_pair(logged, policy);
      };
      const auto [full_log, full_policy] = run(0, false);
      for (const auto& [chunk, share] : {std::pair<int64_t, bool>{5, false}, {0, true}, {5, true}}) {
        INFO("chunk " << chunk << (share ? ", shared prompt" : ""));
        const auto [chunked_log, chunked_policy] = run(chunk, share);
        REQUIRE(chunked_log.size() == full_log.size());
        for (size_t s = 0; s < full_log.size(); ++s) {
          for (const auto& [name, value] : full_log[s]) {
            if (name.find("/s") != std::string::npos || name.find("time") != std::string::npos) continue;  // timings
            INFO("step " << s + 1 << " " << name);
            REQUIRE(chunked_log[s].count(name) == 1);
            // The margin: rewards are β·(log π − log π_ref), small differences of log-probs near −10
            // whose rounding (1e-7 of a log-prob) is all of their own last digits.
            CHECK(chunked_log[s].at(name) == Approx(value).epsilon(1e-5).margin(1e-6));
          }
        }
        const auto a = chunked_policy->named_parameters(), b = full_policy->named_parameters();
        for (const auto& p : b) check_close(a[p.key()], p.value(), "trained " + p.key());
      }
    }
  }
}

TEST_CASE("the chunked backward replays the forward's autocast state and random draws", "[fpo][chunked]") {
  torch::manual_seed(1);
  const int64_t N = 10, H = 8, V = 29;
  const auto weight = torch::randn({V, H}).requires_grad_(true);
  const auto hidden = torch::randn({N, H}).requires_grad_(true);
  const auto targets = torch::randint(0, V, {N});
  const auto g = torch::randn({N});
  // A head with dropout (a LoRA head's), recording whether autocast was on at each call.
  std::vector<bool> autocast_seen;
  const auto head = [&](const torch::Tensor& h) {
    autocast_seen.push_back(at::autocast::is_autocast_enabled(torch::kCPU));
    return torch::matmul(torch::dropout(h, 0.5, /*train=*/true), weight.t());
  };
  // What the chunked path must equal: the same chunks, drawn in the same order, with a full graph.
  torch::manual_seed(42);
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < N; start += 4)
    parts.push_back(lm::gather_log_probs(lm::log_probs(head(hidden.narrow(0, start, std::min<int64_t>(4, N - start)))),
                                         targets.narrow(0, start, std::min<int64_t>(4, N - start))));
  torch::cat(parts).backward(g);
  const auto want_hidden = hidden.grad().clone(), want_weight = weight.grad().clone();
  hidden.mutable_grad().reset();
  weight.mutable_grad().reset();
  autocast_seen.clear();

  torch::manual_seed(42);
  lm::TokenLogpsRequest r;
  r.head = head;
  r.hidden = hidden;
  r.targets = targets;
  r.chunk_size = 4;
  torch::Tensor logps;
  {
    // Autocast on (to float32, so that the numbers stay comparable) in the forward only.
    at::autocast::set_autocast_dtype(torch::kCPU, torch::kFloat32);
    at::autocast::set_autocast_enabled(torch::kCPU, true);
    logps = lm::chunked_token_logps(r).logps;
    at::autocast::set_autocast_enabled(torch::kCPU, false);
    at::autocast::set_autocast_dtype(torch::kCPU, torch::kBFloat16);
  }
  (void)torch::rand({3});  // the generator moves on before the backward, which must not care
  auto cpu_generator = at::detail::getDefaultCPUGenerator();
  const auto before_backward = cpu_generator.get_state();
  logps.backward(g);
  REQUIRE(autocast_seen.size() == 6);  // three chunks, then the same three again in the backward
  for (const bool on : autocast_seen) CHECK(on);
  CHECK_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));  // the backward put it back
  check_close(hidden.grad(), want_hidden, "hidden gradient under replayed dropout");
  check_close(weight.grad(), want_weight, "head gradient under replayed dropout");
  CHECK(torch::equal(cpu_generator.get_state(), before_backward));  // and leaves the generator as it was
}

TEST_CASE("the shared prompt and the chunked head hold with LoRA, checkpointing, accumulation and autocast",
          "[fpo][chunked]") {
  const auto sae_module = test::random_fixture_sae();
  for (const auto method : {Method::Dpo, Method::Tdpo1, Method::Fpo}) {
    for (const bool bf16 : {false, true}) {
      DYNAMIC_SECTION(method_name(method) << (bf16 ? " bf16 autocast" : " float32")) {
        const auto run = [&](int64_t chunk, bool share) {
          auto o = test::constant_lr_options(method, 0.5, 2, 2);
          o.logits_chunk_size = chunk;
          o.share_prompt = share;
          o.adam_epsilon = 1.0;  // steps proportional to the gradient (see above)
          o.gradient_accumulation_steps = 2;
          o.gradient_checkpointing = true;
          if (bf16) o.autocast_dtype = torch::kBFloat16;
          o.loss.fpo.top_k = 16;
          FeatureProbe probe;
          if (method == Method::Fpo)
            probe = {sae_module.get(), lm::HookName::parse("blocks.1.hook_resid_post"), FpoVariant::Paper};
          auto policy = lm::load_model(test::fixture("models/llama-gqa"), {torch::kCPU, torch::kFloat32});
          policy->set_gradient_checkpointing(true);
          lm::LoraOptions lo;
          lo.r = 4;
          lo.targets = {"q_proj", "v_proj", "lm_head"};
          // No dropout: its masks depend on the layout (a packed row draws other numbers than two
          // rows), so the layouts agree only without it; the chunked head replays its own draws
          // (tested above).
          lo.seed = 3;
          auto adapters = lm::LoraAdapters::attach(*policy, lo);
          PreferenceTrainer t(o, policy, random_pairs(8, 300, 29), probe);
          t.use_lora(&adapters);
          t.precompute_reference(policy);
          std::vector<std::map<std::string, double>> logged;
          torch::manual_seed(9);
          t.train([&](const StepMetrics& m) { logged.push_back(m.values); });
          std::map<std::string, torch::Tensor> weights;
          for (const auto& [name, w] : adapters.named_parameters()) weights[name] = w.detach().clone();
          return std::make_pair(logged, weights);
        };
        const auto [base_log, base_weights] = run(0, false);
        for (const auto& [chunk, share] : {std::pair<int64_t, bool>{0, true}, {5, true}}) {
          INFO("chunk " << chunk << (share ? ", shared prompt" : ""));
          const auto [log, weights] = run(chunk, share);
          REQUIRE(log.size() == base_log.size());
          // bf16 matmuls over a packed row and over two rows round differently in bf16's 8 bits;
          // float32 holds to the usual 1e-5.
          const double tolerance = bf16 ? 3e-2 : 1e-5;
          for (size_t s = 0; s < log.size(); ++s)
            for (const auto& [name, value] : base_log[s]) {
              if (name.find("/s") != std::string::npos || name.find("time") != std::string::npos) continue;
              INFO("step " << s + 1 << " " << name);
              CHECK(log[s].at(name) == Approx(value).epsilon(tolerance).margin(bf16 ? 1e-2 : 1e-6));
            }
          if (!bf16)
            for (const auto& [name, w] : base_weights) check_close(weights.at(name), w, "trained " + name);
        }
      }
    }
  }
}
