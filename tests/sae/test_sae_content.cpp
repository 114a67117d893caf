// Content, not only shape: the online harvesting source (`sae train` without a cache) and
// evaluate_sae (`sae eval`) on a real model, models/tiny-llama, against HF transformers' hook
// outputs and SAELens's evaluation definitions (tests/fixtures/generate_sae_eval.py).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/harvesting_source.h"
#include "fpokit/sae/eval/sae_evaluation.h"
#include "fpokit/sae/io/sae_io.h"
#include "sae_model_fixture.h"

using namespace fpokit;
using test::max_difference;
using test::sae_model_reference;
using test::sae_model_settings;
using test::same_integers;

namespace {

// fp32 forwards of a 2-layer model in two libraries: activations (up to ~50 at the planted
// outlier) agree to ~3e-6.
constexpr double kActivationTolerance = 2e-5;

std::vector<lm::HookName> parse_hooks(const std::vector<std::string>& names) {
  std::vector<lm::HookName> hooks;
  for (const auto& n : names) hooks.push_back(lm::HookName::parse(n));
  return hooks;
}

std::shared_ptr<const lm::Tokenizer> tiny_llama_tokenizer() {
  return lm::Tokenizer::from_directory(test::tiny_llama_dir());
}

// Everything the source yields until the corpus ends.
sae::ActivationRows drain(sae::HarvestingSource& source) {
  std::vector<sae::ActivationRows> parts;
  while (auto rows = source.next()) parts.push_back(std::move(*rows));
  return sae::ActivationRows::cat(parts);
}

}  // namespace

TEST_CASE("online harvesting yields the model's hook outputs at every non-special token in corpus order",
          "[sae][data][content]") {
  const auto& s = sae_model_settings();
  const auto hook_names = test::json_strings(s["harvest_hooks"]);
  sae::HarvestOptions options;
  options.context_size = s["context_size"].get<int64_t>();
  options.batch_sequences = s["harvest_batch"].get<int64_t>();
  sae::HarvestingSource source(test::load_tiny_llama(), tiny_llama_tokenizer(), parse_hooks(hook_names),
                               test::sae_model_corpus(), options);
  CHECK(source.hook_names() == hook_names);
  const auto rows = drain(source);

  // Which tokens: BOS row starts and separators and the EOS inside a document are dropped, the
  // rest kept in corpus order (the reference packs rows from docs/sae.md with HF's tokenizer).
  CHECK(same_integers(rows.token_ids, sae_model_reference("harvest.token_ids")));
  CHECK(same_integers(rows.positions, sae_model_reference("harvest.positions")));
  CHECK(same_integers(rows.sequence_ids, sae_model_reference("harvest.sequence_ids")));
  const int64_t all_tokens = sae_model_reference("rows").numel();
  CHECK(source.tokens_excluded() == all_tokens - rows.size());
  // What: the activation HF's modules produce at each hook (one tensor per hook, hooks in the
  // order asked for, not sorted).
  REQUIRE(rows.activations.size() == hook_names.size());
  for (size_t h = 0; h < hook_names.size(); ++h) {
    INFO(hook_names[h]);
    CHECK(max_difference(rows.activations[h], sae_model_reference("harvest." + hook_names[h])) < kActivationTolerance);
  }
}

TEST_CASE("exclude-norm-multiple drops the planted high-norm token and nothing else", "[sae][data][content]") {
  const auto& s = sae_model_settings();
  const auto hook = s["outlier_hook"].get<std::string>();
  sae::HarvestOptions options;
  options.context_size = s["context_size"].get<int64_t>();
  options.batch_sequences = s["outlier_batch"].get<int64_t>();
  options.exclude_norm_multiple = s["outlier_multiple"].get<double>();
  sae::HarvestingSource source(test::load_tiny_llama(/*planted=*/true), tiny_llama_tokenizer(),
                               {lm::HookName::parse(hook)}, test::sae_model_corpus(), options);
  const auto rows = drain(source);

  const auto kept_ids = sae_model_reference("outlier.token_ids");
  CHECK(same_integers(rows.token_ids, kept_ids));
  CHECK(same_integers(rows.positions, sae_model_reference("outlier.positions")));
  CHECK(same_integers(rows.sequence_ids, sae_model_reference("outlier.sequence_ids")));
  REQUIRE(rows.activations.size() == 1);
  CHECK(max_difference(rows.activations[0], sae_model_reference("outlier." + hook)) < kActivationTolerance);
  // Independently of the reference's kept set: exactly the planted token's occurrences are gone.
  const auto fox = s["outlier_token"].get<int64_t>();
  const auto all_kept = sae_model_reference("harvest.token_ids");
  const int64_t planted = (all_kept == fox).sum().item<int64_t>();
  CHECK(planted >= 3);
  CHECK((rows.token_ids == fox).sum().item<int64_t>() == 0);
  CHECK(rows.size() == all_kept.size(0) - planted);
}

TEST_CASE("exclude-norm-multiple judges each hook against its own median whatever the hook order",
          "[sae][data][content]") {
  // The generator picked a multiple at which taking the second hook's median over the tokens that
  // the first hook left (rather than over all non-special tokens of the batch) keeps another set.
  const auto& s = sae_model_settings();
  auto hook_names = test::json_strings(s["two_hooks"]);
  const auto expected_sequences = sae_model_reference("two_hooks.sequence_ids");
  const auto expected_positions = sae_model_reference("two_hooks.positions");
  const auto model = test::load_tiny_llama(/*planted=*/true);
  for (int order = 0; order < 2; ++order) {
    if (order == 1) std::reverse(hook_names.begin(), hook_names.end());
    INFO("hooks " << hook_names[0] << ", " << hook_names[1]);
    sae::HarvestOptions options;
    options.context_size = s["context_size"].get<int64_t>();
    options.batch_sequences = s["outlier_batch"].get<int64_t>();
    options.exclude_norm_multiple = s["two_hooks_multiple"].get<double>();
    sae::HarvestingSource source(model, tiny_llama_tokenizer(), parse_hooks(hook_names), test::sae_model_corpus(),
                                 options);
    const auto rows = drain(source);
    CHECK(same_integers(rows.sequence_ids, expected_sequences));
    CHECK(same_integers(rows.positions, expected_positions));
  }
}

TEST_CASE("evaluate_sae equals SAELens's CE loss score and KL score on the tiny model", "[sae][eval][content]") {
  const auto& s = sae_model_settings();
  const auto model = test::load_tiny_llama();
  const auto tokenizer = tiny_llama_tokenizer();
  const int64_t context = s["context_size"].get<int64_t>();
  for (const std::string arch : {"topk", "jumprelu"}) {
    INFO(arch);
    const auto& ref = s["eval"][arch];
    const auto sae_module = sae::load_sae(test::sae_model_fixture("saelens_" + arch));
    sae::EvalOptions options;
    options.context_size = context;
    options.tokens = s["eval_rows"].get<int64_t>() * context;
    options.batch_sequences = 4;  // two batches (4 + 2 rows): the metrics pool over batches
    options.dense_threshold = s["dense_threshold"].get<double>();
    const auto r =
        sae::evaluate_sae(model, *tokenizer, *sae_module, lm::HookName::parse(s["sae_hook"].get<std::string>()),
                          test::sae_model_corpus(), options);
    CHECK(r.sequences == ref["sequences"].get<int64_t>());
    CHECK(r.tokens == ref["tokens"].get<int64_t>());
    // SAELens get_downstream_reconstruction_metrics, within 1e-4.
    CHECK(r.ce_clean == Approx(ref["ce_loss_without_sae"].get<double>()).margin(1e-4));
    CHECK(r.ce_sae == Approx(ref["ce_loss_with_sae"].get<double>()).margin(1e-4));
    CHECK(r.ce_zero == Approx(ref["ce_loss_with_ablation"].get<double>()).margin(1e-4));
    CHECK(r.ce_loss_recovered == Approx(ref["ce_loss_score"].get<double>()).margin(1e-4));
    CHECK(r.kl_sae == Approx(ref["kl_div_with_sae"].get<double>()).margin(1e-4));
    CHECK(r.kl_zero == Approx(ref["kl_div_with_ablation"].get<double>()).margin(1e-4));
    CHECK(r.kl_div_score == Approx(ref["kl_div_score"].get<double>()).margin(1e-4));
    // SAELens get_sparsity_and_variance_metrics: l0, cossim.
    CHECK(r.l0 == Approx(ref["saelens_l0"].get<double>()).margin(1e-4));
    CHECK(r.cosine == Approx(ref["saelens_cossim"].get<double>()).margin(1e-4));
    // docs/sae.md's own definitions (SAELens's differ: see the generator), written independently.
    CHECK(r.fvu == Approx(ref["fvu"].get<double>()).margin(1e-4));
    CHECK(r.mse == Approx(ref["mse"].get<double>()).margin(1e-5));
    CHECK(r.dead_fraction == Approx(ref["dead_fraction"].get<double>()).margin(1e-9));
    CHECK(r.dense_fraction == Approx(ref["dense_fraction"].get<double>()).margin(1e-9));
  }
}
