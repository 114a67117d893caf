// Content, not only shape, through the fpokit binary: `acts cache` stores the model's hook outputs
// at exactly the documented tokens, `sae encode` writes the SAE's features (values and ascending
// latents) and `sae eval` reports SAELens's CE loss score and KL score, each against the
// HF transformers / SAELens reference of tests/fixtures/generate_sae_eval.py on models/tiny-llama.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/checkpoint/save_model.h"
#include "fpokit/sae/data/activation_file.h"
#include "sae_model_fixture.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::max_difference;
using test::quoted;
using test::read_bytes;
using test::run_command;
using test::sae_model_reference;
using test::sae_model_settings;
using test::same_integers;
using test::TempDir;

namespace {

constexpr double kActivationTolerance = 2e-5;  // fp32 forwards of a 2-layer model in two libraries (~3e-6)

std::string context_flag() {
  return " --context-size " + std::to_string(sae_model_settings()["context_size"].get<int>());
}

std::string hook_flags(const std::vector<std::string>& hooks) {
  std::string flags;
  for (const auto& h : hooks) flags += " --hook " + h;
  return flags;
}

// Every row of an activation file, checked against the reference of `prefix` (harvest., outlier.).
void check_cache(const std::filesystem::path& file, const std::string& prefix, const std::vector<std::string>& hooks,
                 int64_t rows_expected) {
  sae::ActivationFileReader reader(file);
  REQUIRE(reader.num_rows() == rows_expected);
  CHECK(reader.info().hook_names == hooks);
  const int64_t n = reader.num_rows();
  CHECK(same_integers(reader.read_token_ids(0, n), sae_model_reference(prefix + "token_ids").slice(0, 0, n)));
  CHECK(same_integers(reader.read_positions(0, n), sae_model_reference(prefix + "positions").slice(0, 0, n)));
  CHECK(same_integers(reader.read_sequence_ids(0, n), sae_model_reference(prefix + "sequence_ids").slice(0, 0, n)));
  for (size_t h = 0; h < hooks.size(); ++h) {
    INFO(hooks[h]);
    CHECK(max_difference(reader.read_activations(h, 0, n), sae_model_reference(prefix + hooks[h]).slice(0, 0, n)) <
          kActivationTolerance);
  }
}

}  // namespace

TEST_CASE("acts cache stores the model's hook outputs at exactly the non-special tokens", "[cli][sae][content]") {
  TempDir tmp;
  const auto& s = sae_model_settings();
  const auto hooks = test::json_strings(s["harvest_hooks"]);
  const int64_t kept = sae_model_reference("harvest.token_ids").size(0);
  const std::string args = "acts cache --model " + quoted(test::tiny_llama_dir()) + " --data " +
                           quoted(test::sae_model_corpus()) + hook_flags(hooks) + context_flag() +
                           " --model-batch-size " + std::to_string(s["harvest_batch"].get<int>());
  // The whole corpus (--tokens beyond it), then a --tokens that ends inside a model batch: its
  // first rows, nothing else.
  auto r = run_command(fpokit_cmd(args + " --tokens 100000 --out " + quoted(tmp / "all.h5")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  check_cache(tmp / "all.h5", "harvest.", hooks, kept);
  r = run_command(fpokit_cmd(args + " --tokens " + std::to_string(kept - 7) + " --out " + quoted(tmp / "part.h5")));
  REQUIRE(r.exit_code == 0);
  check_cache(tmp / "part.h5", "harvest.", hooks, kept - 7);
}

TEST_CASE("acts cache --exclude-norm-multiple drops the planted outlier token and nothing else",
          "[cli][sae][content]") {
  TempDir tmp;
  const auto& s = sae_model_settings();
  // tiny-llama with the " fox" embedding scaled, written as a model folder (weights and tokenizer).
  const auto planted_dir = tmp / "planted";
  {
    const auto model = test::load_tiny_llama(/*planted=*/true);
    lm::save_pretrained(*model, test::tiny_llama_dir(), planted_dir);
  }
  const auto hook = s["outlier_hook"].get<std::string>();
  auto r = run_command(fpokit_cmd("acts cache --model " + quoted(planted_dir) + " --data " +
                                  quoted(test::sae_model_corpus()) + " --hook " + hook + context_flag() +
                                  " --model-batch-size " + std::to_string(s["outlier_batch"].get<int>()) +
                                  " --exclude-norm-multiple " + std::to_string(s["outlier_multiple"].get<double>()) +
                                  " --tokens 100000 --out " + quoted(tmp / "acts.h5")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto fox = s["outlier_token"].get<int64_t>();
  const auto all_kept = sae_model_reference("harvest.token_ids");
  const int64_t planted = (all_kept == fox).sum().item<int64_t>();
  REQUIRE(planted >= 3);
  check_cache(tmp / "acts.h5", "outlier.", {hook}, all_kept.size(0) - planted);
  sae::ActivationFileReader reader(tmp / "acts.h5");
  CHECK((reader.read_token_ids(0, reader.num_rows()) == fox).sum().item<int64_t>() == 0);
}

TEST_CASE("sae encode writes the SAE's features of the model's activations with latents ascending",
          "[cli][sae][content]") {
  TempDir tmp;
  const auto& s = sae_model_settings();
  const auto hook = s["sae_hook"].get<std::string>();
  const auto acts = sae_model_reference("harvest." + hook);
  lm::write_safetensors(tmp / "acts.safetensors", {{"activations", acts}});
  for (const std::string arch : {"topk", "jumprelu"}) {
    INFO(arch);
    const auto sae_dir = test::sae_model_fixture("saelens_" + arch);
    const auto indptr = sae_model_reference("encode." + arch + ".indptr");
    const auto indices = sae_model_reference("encode." + arch + ".indices");
    const auto values = sae_model_reference("encode." + arch + ".values");
    const lm::SafetensorsFile weights(sae_dir / "sae_weights.safetensors");
    const auto W_dec = weights.load("W_dec");
    const auto dense_expected = test::csr_to_dense(indptr, indices, values, W_dec.size(0));

    // Harvested from the model (CSR), and from the reference activations themselves (dense, with
    // the reconstruction).
    const auto csr_out = tmp / (arch + "-csr.safetensors");
    auto r = run_command(fpokit_cmd("sae encode --sae " + quoted(sae_dir) + " --model " +
                                    quoted(test::tiny_llama_dir()) + " --data " + quoted(test::sae_model_corpus()) +
                                    context_flag() + " --tokens 100000 --out " + quoted(csr_out)));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const lm::SafetensorsFile csr(csr_out);
    CHECK(test::rows_ascending(csr.load("indptr"), csr.load("indices")));
    CHECK(same_integers(csr.load("indptr"), indptr));
    CHECK(same_integers(csr.load("indices"), indices));
    CHECK(max_difference(csr.load("values"), values) < kActivationTolerance);
    CHECK(same_integers(csr.load("token_ids"), sae_model_reference("harvest.token_ids")));
    CHECK(same_integers(csr.load("positions"), sae_model_reference("harvest.positions")));
    CHECK(same_integers(csr.load("sequence_ids"), sae_model_reference("harvest.sequence_ids")));

    const auto dense_out = tmp / (arch + "-dense.safetensors");
    r = run_command(fpokit_cmd("sae encode --sae " + quoted(sae_dir) + " --acts " + quoted(tmp / "acts.safetensors") +
                               " --dense --reconstruction --out " + quoted(dense_out)));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const lm::SafetensorsFile dense(dense_out);
    CHECK(max_difference(dense.load("features"), dense_expected) < 1e-5);
    // x̂ = f W_dec + b_dec with the file's weights, in plain torch.
    const auto expected_reconstruction = torch::matmul(dense_expected, W_dec) + weights.load("b_dec");
    CHECK(max_difference(dense.load("reconstruction"), expected_reconstruction) < 1e-5);
  }
}

TEST_CASE("sae eval reports SAELens's CE loss score and KL score", "[cli][sae][content]") {
  TempDir tmp;
  const auto& s = sae_model_settings();
  const auto& ref = s["eval"]["topk"];
  const int64_t tokens = s["eval_rows"].get<int64_t>() * s["context_size"].get<int64_t>();
  auto r = run_command(fpokit_cmd("sae eval --sae " + quoted(test::sae_model_fixture("saelens_topk")) + " --model " +
                                  quoted(test::tiny_llama_dir()) + " --data " + quoted(test::sae_model_corpus()) +
                                  context_flag() + " --tokens " + std::to_string(tokens) +
                                  " --model-batch-size 4 --out " + quoted(tmp / "eval.json")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(read_bytes(tmp / "eval.json"));
  CHECK(j["tokens"].get<int64_t>() == ref["tokens"].get<int64_t>());
  for (const auto& [ours, theirs] :
       std::vector<std::pair<std::string, std::string>>{{"ce_loss_clean", "ce_loss_without_sae"},
                                                        {"ce_loss_with_sae", "ce_loss_with_sae"},
                                                        {"ce_loss_with_ablation", "ce_loss_with_ablation"},
                                                        {"ce_loss_recovered", "ce_loss_score"},
                                                        {"kl_div_with_sae", "kl_div_with_sae"},
                                                        {"kl_div_with_ablation", "kl_div_with_ablation"},
                                                        {"kl_div_score", "kl_div_score"},
                                                        {"l0", "saelens_l0"},
                                                        {"cosine_similarity", "saelens_cossim"},
                                                        {"fvu", "fvu"},
                                                        {"explained_variance", "fvu"}}) {
    INFO(ours << " vs the reference's " << theirs);
    const double expected = ours == "explained_variance" ? 1.0 - ref[theirs].get<double>() : ref[theirs].get<double>();
    CHECK(j[ours].get<double>() == Approx(expected).margin(1e-4));
  }
}
