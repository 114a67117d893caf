// The offline reference: its values equal an online reference forward of the same pairs, survive
// the HDF5 cache exactly, and a stale or corrupt cache is never used silently.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "fpokit/core/errors.h"
#include "fpokit/fpo/training/reference_cache.h"
#include "fpokit/lm/model/load_model.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;

namespace {

std::vector<TokenizedPair> pairs_for_test() {
  std::vector<TokenizedPair> out;
  for (int i = 0; i < 6; ++i) {
    TokenizedPair p;
    p.chosen.input_ids = {11, 12 + i, 13, 40 + i, 41, 42};
    p.chosen.completion_mask = {0, 0, 0, 1, 1, 1};
    p.rejected.input_ids = {11, 12 + i, 13, 90 + i};
    p.rejected.completion_mask = {0, 0, 0, 1};
    out.push_back(p);
  }
  return out;
}

}  // namespace

TEST_CASE("offline reference equals the online reference and round-trips the cache", "[fpo][reference]") {
  const auto model_dir = test::fixture("models/llama-gqa");
  sae::SaeConfig c;
  c.architecture = sae::Architecture::TopK;
  c.d_in = 64;
  c.d_sae = 96;
  c.k = 8;
  sae::SparseAutoencoder s(c);
  sae::initialize_weights(*s, sae::default_init_options(c.architecture, 2));
  s->eval();
  const FeatureProbe probe{s.get(), lm::HookName::parse("blocks.0.hook_resid_post"), FpoVariant::Paper};
  PreferenceTrainerOptions o;
  o.method = Method::Fpo;
  o.per_device_train_batch_size = 4;  // the offline pass batches differently from the check below
  o.loss.fpo.top_k = 8;
  auto pairs = pairs_for_test();
  PreferenceTrainer trainer(o, lm::load_model(model_dir, {torch::kCPU, torch::kFloat32}), pairs, probe);
  auto reference = lm::load_model(model_dir, {torch::kCPU, torch::kFloat32});
  trainer.precompute_reference(reference);
  const auto& v = trainer.reference_values();

  // Online: the reference forward of pairs 1, 4 and 5 as one batch.
  torch::NoGradGuard g;
  std::vector<const TokenizedPair*> some{&pairs[1], &pairs[4], &pairs[5]};
  const auto online = forward_pairs(*reference, collate_pairs(some, 0), &probe);
  const auto idx = torch::tensor({1, 4, 5}, torch::kInt64);
  CHECK((online.chosen.sum - v.chosen_sum.index_select(0, idx)).abs().max().item<double>() < 1e-5);
  CHECK((online.rejected.mean - v.rejected_mean.index_select(0, idx)).abs().max().item<double>() < 1e-5);
  CHECK((online.pooled_chosen - v.chosen_pooled.index_select(0, idx)).abs().max().item<double>() < 1e-5);

  test::TempDir tmp;
  const auto path = tmp / "ref.h5";
  save_reference_cache(path, v, "{\"model\": \"a\"}");
  const auto loaded = load_reference_cache(path, "{\"model\": \"a\"}");
  REQUIRE(loaded);
  CHECK(torch::equal(loaded->chosen_sum, v.chosen_sum));
  CHECK(torch::equal(loaded->rejected_tokens, v.rejected_tokens));
  CHECK(torch::equal(loaded->chosen_pooled, v.chosen_pooled));
  CHECK(torch::equal(loaded->rejected_pooled, v.rejected_pooled));

  CHECK_FALSE(load_reference_cache(path, "{\"model\": \"b\"}"));
  CHECK_THROWS_AS(load_reference_cache(path, "{\"model\": \"b\"}", true), InputError);
  CHECK_FALSE(load_reference_cache(tmp / "absent.h5", "x"));
  std::ofstream(tmp / "bad.h5") << "not hdf5";
  CHECK_THROWS_AS(load_reference_cache(tmp / "bad.h5", "x"), CheckpointError);
}

TEST_CASE("a reference-cache write that throws midway leaves the old cache and no temporary file", "[fpo][reference]") {
  PreferenceTrainer::ReferenceValues v;
  for (auto* t :
       {&v.chosen_sum, &v.chosen_mean, &v.chosen_tokens, &v.rejected_sum, &v.rejected_mean, &v.rejected_tokens})
    *t = torch::arange(3, torch::kFloat64);
  v.chosen_pooled = torch::eye(3, torch::kFloat32);
  v.rejected_pooled = torch::eye(3, torch::kFloat32) * 2;
  test::TempDir tmp;
  const auto path = tmp / "ref.h5";
  save_reference_cache(path, v, "fp");
  const std::string before = test::read_bytes(path);

  // rejected_pooled undefined: the HDF5 file is created and half written when the write throws.
  auto broken = v;
  broken.chosen_sum = torch::full({3}, 7.0, torch::kFloat64);
  broken.rejected_pooled = torch::Tensor();
  CHECK_THROWS(save_reference_cache(path, broken, "fp"));
  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) entries.push_back(e.path().filename().string());
  CHECK(entries == std::vector<std::string>{"ref.h5"});
  CHECK(test::read_bytes(path) == before);
  const auto loaded = load_reference_cache(path, "fp");
  REQUIRE(loaded);
  CHECK(torch::equal(loaded->chosen_sum, v.chosen_sum));
  CHECK(torch::equal(loaded->rejected_pooled, v.rejected_pooled));
}
