// Config JSON, initialisation, decoder helpers, folding identities and pooled metrics.
#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/sae/eval/sae_metrics.h"
#include "fpokit/sae/model/sae_config.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "sae_test_util.h"

// After every LibTorch header: c10 defines its own CHECK.
#include <catch2/catch.hpp>

using namespace fpokit;
using namespace fpokit::sae;
using Catch::Contains;
using fpokit::test::max_abs_diff;

namespace {

SaeConfig small_config(Architecture a) {
  SaeConfig c;
  c.architecture = a;
  c.d_in = 8;
  c.d_sae = 24;
  c.k = 3;
  c.hook_name = "blocks.2.hook_resid_post";
  c.model_name = "m";
  c.context_size = 128;
  return c;
}

}  // namespace

TEST_CASE("SaeConfig round-trips through SAELens cfg.json", "[sae][config]") {
  const auto arch = GENERATE(Architecture::TopK, Architecture::BatchTopK, Architecture::ReLU, Architecture::JumpReLU);
  auto c = small_config(arch);
  c.normalization = ActivationNormalization::ExpectedAverageOnlyIn;
  c.activation_scale = 1.75;
  c.jumprelu_bandwidth = 0.01;
  c.apply_b_dec_to_input = false;
  const auto j = c.to_saelens_json();
  const char* saelens_arch = arch == Architecture::ReLU ? "standard" : arch == Architecture::TopK ? "topk" : "jumprelu";
  CHECK(j["architecture"] == saelens_arch);
  CHECK(j["metadata"]["hook_name"] == "blocks.2.hook_resid_post");
  CHECK(j["normalize_activations"] == "expected_average_only_in");
  const auto back = SaeConfig::from_saelens_json(nlohmann::json::parse(j.dump()), "cfg.json");
  CHECK(back.architecture == c.architecture);
  CHECK(back.d_in == c.d_in);
  CHECK(back.d_sae == c.d_sae);
  CHECK(back.k == ((arch == Architecture::TopK || arch == Architecture::BatchTopK) ? c.k : 0));
  CHECK(back.apply_b_dec_to_input == false);
  CHECK(back.normalization == c.normalization);
  CHECK(back.activation_scale == c.activation_scale);
  CHECK(back.hook_name == c.hook_name);
  CHECK(back.model_name == c.model_name);
  CHECK(back.context_size == c.context_size);
  if (arch == Architecture::JumpReLU || arch == Architecture::BatchTopK) CHECK(back.jumprelu_bandwidth == 0.01);
}

TEST_CASE("SaeConfig reads pre-6.0 flat configs and rejects bad ones", "[sae][config]") {
  const auto old = nlohmann::json::parse(
      R"({"d_in": 8, "d_sae": 24, "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 2},
          "hook_point": "blocks.0.hook_resid_pre", "model_name": "gpt2", "context_size": 128})");
  const auto c = SaeConfig::from_saelens_json(old, "old.json");
  CHECK(c.architecture == Architecture::TopK);
  CHECK(c.k == 2);
  CHECK(c.hook_name == "blocks.0.hook_resid_pre");
  CHECK_THROWS_WITH(SaeConfig::from_saelens_json(nlohmann::json::parse(R"({"d_in": 8})"), "x/cfg.json"),
                    Contains("x/cfg.json") && Contains("d_sae"));
  CHECK_THROWS_WITH(SaeConfig::from_saelens_json(nlohmann::json::parse(R"({"d_in": "8", "d_sae": 2})"), "c.json"),
                    Contains("d_in") && Contains("wrong type"));
  // A float out of int64's range was a cast with undefined behaviour (found by fuzz_sae_cfg); a
  // whole float (Python's 64.0) is the integer it spells.
  CHECK_THROWS_WITH(SaeConfig::from_saelens_json(nlohmann::json::parse(R"({"d_in": 4.33333e93, "d_sae": 2})"),
                                                 "c.json"),
                    Contains("c.json") && Contains("\"d_in\"") && Contains("wrong type"));
  CHECK_THROWS_WITH(SaeConfig::from_saelens_json(nlohmann::json::parse(R"({"d_in": 8, "d_sae": 2.5})"), "c.json"),
                    Contains("\"d_sae\"") && Contains("integer"));
  CHECK(SaeConfig::from_saelens_json(nlohmann::json::parse(R"({"d_in": 8.0, "d_sae": 24})"), "c.json").d_in == 8);
  CHECK_THROWS_WITH(SaeConfig::from_saelens_json(
                        nlohmann::json::parse(R"({"d_in": 8, "d_sae": 24, "architecture": "topk"})"), "c.json"),
                    Contains("\"k\""));
  CHECK_THROWS_AS(SaeConfig::from_saelens_json(
                      nlohmann::json::parse(R"({"d_in": 8, "d_sae": 24, "normalize_activations": "zscore"})"),
                      "c.json"),
                  ConfigError);
  CHECK_THROWS_WITH(parse_architecture("transcoder"), Contains("transcoder") && Contains("gated"));
  CHECK(parse_architecture("gated") == Architecture::Gated);
  CHECK(parse_architecture("standard") == Architecture::ReLU);
}

TEST_CASE("SaeConfig reads SAELens's training_architecture metadata", "[sae][config]") {
  // The shape of what SAELens's save_inference_model writes for a BatchTopK / JumpReLU training SAE
  // (tests/fixtures/sae/saelens_batchtopk, saelens_jumprelu hold real ones).
  auto saved = [](const char* arch, const char* trained_as, const nlohmann::json& details) {
    return nlohmann::json{{"architecture", arch},
                          {"d_in", 8},
                          {"d_sae", 24},
                          {"metadata",
                           {{"sae_lens_version", "6.54.12"},
                            {"hook_name", "blocks.0.hook_resid_post"},
                            {"training_architecture", trained_as},
                            {"training_architecture_details", details}}}};
  };
  const auto batchtopk = SaeConfig::from_saelens_json(saved("jumprelu", "batchtopk", {{"k", 5}}), "c.json");
  CHECK(batchtopk.architecture == Architecture::BatchTopK);
  CHECK(batchtopk.k == 5);
  CHECK(batchtopk.hook_name == "blocks.0.hook_resid_post");
  // SAELens's k is an average and may be fractional; fpokit's BatchTopK needs a whole one, so the
  // SAE stays the JumpReLU SAELens saved (the same inference).
  const auto fractional = SaeConfig::from_saelens_json(saved("jumprelu", "batchtopk", {{"k", 4.5}}), "c.json");
  CHECK(fractional.architecture == Architecture::JumpReLU);
  // Matryoshka BatchTopK and other training architectures saved as JumpReLU stay JumpReLU.
  CHECK(SaeConfig::from_saelens_json(saved("jumprelu", "matryoshka_batchtopk", {{"k", 5}}), "c.json").architecture ==
        Architecture::JumpReLU);
  const auto jumprelu =
      SaeConfig::from_saelens_json(saved("jumprelu", "jumprelu", {{"jumprelu_bandwidth", 0.002}}), "c.json");
  CHECK(jumprelu.architecture == Architecture::JumpReLU);
  CHECK(jumprelu.jumprelu_bandwidth == 0.002);
  // fpokit's own key names the architecture when both are there.
  auto both = saved("jumprelu", "batchtopk", {{"k", 5}});
  both["metadata"]["fpokit_architecture"] = "jumprelu";
  CHECK(SaeConfig::from_saelens_json(both, "c.json").architecture == Architecture::JumpReLU);
  // And what fpokit writes says the same in SAELens's keys.
  const auto written = small_config(Architecture::BatchTopK).to_saelens_json();
  CHECK(written["metadata"]["sae_lens_version"] == "6.54.12");
  CHECK(written["metadata"]["training_architecture"] == "batchtopk");
  CHECK(written["metadata"]["training_architecture_details"]["k"] == 3);
}

TEST_CASE("initialisation: tied transpose, decoder row norms per recipe, zero biases", "[sae][init]") {
  const auto arch = GENERATE(Architecture::TopK, Architecture::ReLU, Architecture::JumpReLU);
  SparseAutoencoder sae(small_config(arch));
  initialize_weights(*sae, default_init_options(arch, 7));
  const double norm = arch == Architecture::ReLU ? 0.1 : 1.0;
  CHECK(max_abs_diff(sae->W_dec.norm(2, 1), torch::full({24}, norm)) < 1e-6);
  CHECK(max_abs_diff(sae->W_enc, sae->W_dec.t()) == 0.0);
  CHECK(sae->b_enc.abs().max().item<float>() == 0.0f);
  CHECK(sae->b_dec.abs().max().item<float>() == 0.0f);
  if (arch == Architecture::JumpReLU) CHECK(max_abs_diff(sae->threshold, torch::full({24}, 0.001)) < 1e-9);
  // Seeded: the same seed gives the same weights, another seed different ones.
  SparseAutoencoder same(small_config(arch)), other(small_config(arch));
  initialize_weights(*same, default_init_options(arch, 7));
  initialize_weights(*other, default_init_options(arch, 8));
  CHECK(max_abs_diff(sae->W_dec, same->W_dec) == 0.0);
  CHECK(max_abs_diff(sae->W_dec, other->W_dec) > 0.0);
  // The parameters are named as in SAELens's state dict.
  std::vector<std::string> names;
  for (const auto& p : sae->named_parameters()) names.push_back(p.key());
  CHECK(names.size() == (arch == Architecture::JumpReLU ? 5u : 4u));
  CHECK(names[0] == "W_enc");
  CHECK(names[2] == "W_dec");
}

TEST_CASE("decoder helpers: renormalisation and removal of the radial gradient", "[sae][init]") {
  torch::manual_seed(3);
  auto W = (torch::randn({24, 8}) * 3).requires_grad_(true);
  W.mutable_grad() = torch::randn({24, 8});
  const auto g0 = W.grad().clone();
  remove_decoder_gradient_parallel(W);
  const auto unit = W.detach() / W.detach().norm(2, 1, true);
  CHECK((W.grad() * unit).sum(1).abs().max().item<double>() < 1e-5);
  // Only the radial part was removed: the tangential part is unchanged.
  const auto tangential0 = g0 - (g0 * unit).sum(1, true) * unit;
  CHECK(max_abs_diff(W.grad(), tangential0) < 1e-5);
  normalize_decoder_rows(W);
  CHECK(max_abs_diff(W.detach().norm(2, 1), torch::ones({24})) < 1e-6);
}

TEST_CASE("fold_decoder_norms keeps reconstructions for ReLU and JumpReLU", "[sae][init]") {
  const auto arch = GENERATE(Architecture::ReLU, Architecture::JumpReLU);
  SparseAutoencoder sae(small_config(arch));
  initialize_weights(*sae, default_init_options(arch, 1));
  torch::manual_seed(5);
  {
    torch::NoGradGuard g;
    sae->W_dec.mul_(torch::rand({24, 1}) + 0.5);
    sae->b_enc.copy_(torch::randn({24}) * 0.1);
    sae->b_dec.copy_(torch::randn({8}) * 0.1);
    if (sae->threshold.defined()) sae->threshold.fill_(0.05);
  }
  const auto x = torch::randn({10, 8});
  const auto before = sae->forward(x).reconstruction;
  sae->fold_decoder_norms();
  CHECK(max_abs_diff(sae->forward(x).reconstruction, before) < 1e-5);
  CHECK(max_abs_diff(sae->W_dec.norm(2, 1), torch::ones({24})) < 1e-6);
}

// For TopK the fold is not reconstruction-preserving by design: it turns an SAE that selects on
// pre·‖W_dec_i‖ (SAELens rescale_acts_by_decoder_norm) into a plain TopK SAE.
TEST_CASE("fold_decoder_norms turns a decoder-norm-rescaled TopK into a plain TopK", "[sae][init]") {
  SparseAutoencoder sae(small_config(Architecture::TopK));
  initialize_weights(*sae, default_init_options(Architecture::TopK, 1));
  torch::manual_seed(6);
  {
    torch::NoGradGuard g;
    sae->W_dec.mul_(torch::rand({24, 1}) + 0.5);
    sae->b_enc.copy_(torch::randn({24}) * 0.1);
  }
  const auto x = torch::randn({10, 8});
  // Rescaled semantics by hand: select the k largest of relu(pre)·n, decode with W_dec / n.
  const auto norms = sae->W_dec.norm(2, 1);
  const auto scaled = torch::relu(sae->pre_activations(x)) * norms;
  const auto top = scaled.topk(sae->config().k, -1);
  const auto f = torch::zeros_like(scaled).scatter(-1, std::get<1>(top), std::get<0>(top));
  const auto expected = torch::matmul(f, sae->W_dec / norms.unsqueeze(1)) + sae->b_dec;
  sae->fold_decoder_norms();
  CHECK(max_abs_diff(sae->forward(x).reconstruction, expected) < 1e-5);
}

TEST_CASE("per-token normalisations are undone on the output", "[sae][init]") {
  const auto kind = GENERATE(ActivationNormalization::ConstantNormRescale, ActivationNormalization::LayerNorm);
  auto c = small_config(Architecture::ReLU);
  c.normalization = kind;
  SparseAutoencoder sae(c);
  torch::manual_seed(2);
  const auto x = torch::randn({6, 8}) * 4 + 1;
  const auto n = sae->normalize_input(x);
  if (kind == ActivationNormalization::ConstantNormRescale)
    CHECK(max_abs_diff(n.norm(2, -1), torch::full({6}, std::sqrt(8.0))) < 1e-5);
  else CHECK(n.mean(-1).abs().max().item<double>() < 1e-5);
  CHECK(max_abs_diff(sae->denormalize_output(n, x), x) < 1e-4);
}

TEST_CASE("metrics pool over batches and dead/dense fractions follow the counts", "[sae][metrics]") {
  torch::manual_seed(11);
  const auto x = torch::randn({40, 8}) + 2;
  const auto x_hat = x + 0.3 * torch::randn({40, 8});
  auto f = torch::relu(torch::randn({40, 6}));
  f.index_put_({torch::indexing::Slice(), 0}, 0.0);  // latent 0 never fires
  f.index_put_({torch::indexing::Slice(), 5}, 1.0);  // latent 5 always fires
  ReconstructionMetrics whole, parts;
  whole.add(x, x_hat, f);
  parts.add(x.slice(0, 0, 13), x_hat.slice(0, 0, 13), f.slice(0, 0, 13));
  parts.add(x.slice(0, 13), x_hat.slice(0, 13), f.slice(0, 13));
  CHECK(parts.num_tokens() == 40);
  CHECK(parts.fvu() == Approx(whole.fvu()).epsilon(1e-12));
  CHECK(parts.l0() == Approx(whole.l0()).epsilon(1e-12));
  CHECK(parts.mse() == Approx(whole.mse()).epsilon(1e-12));
  CHECK(parts.cosine_similarity() == Approx(whole.cosine_similarity()).epsilon(1e-12));
  CHECK(max_abs_diff(parts.firing_counts(), whole.firing_counts()) == 0.0);
  // Pooled FVU uses the mean over all tokens, not per batch.
  const auto x64 = x.to(torch::kFloat64), xh64 = x_hat.to(torch::kFloat64);
  const double want = ((x64 - xh64).pow(2).sum() / (x64 - x64.mean(0)).pow(2).sum()).item<double>();
  CHECK(whole.fvu() == Approx(want).epsilon(1e-12));
  CHECK(whole.explained_variance() == Approx(1 - want).epsilon(1e-12));
  const auto fr = firing_fractions(whole.firing_counts(), whole.num_tokens(), 0.9);
  CHECK(fr.dead == Approx(1.0 / 6));
  CHECK(fr.dense == Approx(1.0 / 6));  // only latent 5 fires on > 90% of tokens
  const auto counts = torch::tensor({0, 0, 5, 100}, torch::kInt64);
  const auto fr2 = firing_fractions(counts, 100, 0.04);
  CHECK(fr2.dead == Approx(0.5));
  CHECK(fr2.dense == Approx(0.5));
}
