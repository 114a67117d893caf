// SaeTrainer: exact resume, AuxK revival of dead latents, saved outputs, schedules.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/train/lr_schedule.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpokit/sae/training/sae_trainer.h"
#include "sae_test_util.h"
#include "synthetic_source.h"

using namespace fpokit::sae;
using fpokit::core::LrSchedule;
using fpokit::core::LrScheduler;
using fpokit::core::parse_lr_scheduler;
using fpokit::test::max_abs_diff;
using fpokit::test::PlantedDictionarySource;
using fpokit::test::TempDir;

namespace {

TrainerOptions small_options() {
  TrainerOptions o;
  o.batch_tokens = 128;
  o.total_tokens = 128 * 24;
  o.buffer_tokens = 1000;  // not a multiple of the batch: batches straddle windows
  o.lr = 1e-3;
  o.lr_scheduler = LrScheduler::Cosine;
  o.lr_warmup_steps = 3;
  o.dead_tokens = 128 * 4;
  o.log_every_steps = 0;
  o.b_dec_init = DecoderBiasInit::GeometricMedian;
  return o;
}

SaeSpec spec_for(Architecture arch, const std::string& name = "sae") {
  SaeSpec s;
  s.name = name;
  s.config.architecture = arch;
  s.config.d_sae = 48;
  s.config.k = 4;
  return s;
}

}  // namespace

TEST_CASE("an interrupted and resumed run gives bitwise the same weights", "[sae][trainer][resume]") {
  const auto arch = GENERATE(Architecture::TopK, Architecture::BatchTopK, Architecture::ReLU, Architecture::JumpReLU,
                             Architecture::Gated);
  DYNAMIC_SECTION(architecture_name(arch)) {
    auto o = small_options();
    o.normalization = ActivationNormalization::ExpectedAverageOnlyIn;
    const std::vector<SaeSpec> specs{spec_for(arch, "a"), spec_for(arch, "b")};

    TempDir whole_dir;
    PlantedDictionarySource s1(12, 24, 3, 1 << 20, 300);
    SaeTrainer whole(o, specs, s1, whole_dir.path());
    whole.initialize();
    REQUIRE(whole.run());

    // The split run prefetches its buffer windows in the background (the whole one does not: the
    // CPU default): the same batches, so bitwise the same weights, checkpoint and resume included.
    TempDir split_dir;
    auto prefetching = o;
    prefetching.prefetch_buffer = true;
    {
      auto first = prefetching;
      first.stop_after_tokens = 128 * 11;
      PlantedDictionarySource s2(12, 24, 3, 1 << 20, 300);
      SaeTrainer part(first, specs, s2, split_dir.path());
      part.initialize();
      REQUIRE_FALSE(part.run());
      CHECK(part.step() == 11);
    }
    PlantedDictionarySource s3(12, 24, 3, 1 << 20, 300);
    SaeTrainer resumed(prefetching, specs, s3, split_dir.path());
    REQUIRE(resumed.has_checkpoint());
    resumed.resume();
    CHECK(resumed.step() == 11);
    REQUIRE(resumed.run());
    for (size_t i = 0; i < 2; ++i) {
      auto a = whole.sae(i).named_parameters();
      auto b = resumed.sae(i).named_parameters();
      for (const auto& p : a) {
        INFO("SAE " << i << " " << p.key());
        CHECK(torch::equal(p.value(), b[p.key()]));
      }
      CHECK(whole.sae(i).config().activation_scale == resumed.sae(i).config().activation_scale);
    }
  }
}

TEST_CASE("resume refuses a checkpoint from a run with other settings", "[sae][trainer][resume]") {
  auto o = small_options();
  o.stop_after_tokens = 128 * 2;
  TempDir dir;
  PlantedDictionarySource s1(12, 24, 3, 1 << 20);
  {
    SaeTrainer t(o, {spec_for(Architecture::TopK)}, s1, dir.path());
    t.initialize();
    t.run();
  }
  o.lr = 5e-3;
  SaeTrainer other(o, {spec_for(Architecture::TopK)}, s1, dir.path());
  try {
    other.resume();
    FAIL("resume accepted a checkpoint with another learning rate");
  } catch (const fpokit::InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("lr was"));
  }
}

TEST_CASE("AuxK revives latents that never fire", "[sae][trainer][auxk]") {
  // 16 latents start with encoder columns shrunk 100-fold: their pre-activations are small, so
  // they never make a token's top k. With AuxK (top k_aux of the dead latents' relu(pre) model the
  // residual) they receive gradient and come back; without it they get none and stay dead.
  auto run = [](double auxk_coefficient) {
    auto o = small_options();
    o.total_tokens = 128 * 300;
    o.lr = 3e-3;
    o.lr_scheduler = LrScheduler::Constant;
    o.lr_warmup_steps = 0;
    o.auxk_coefficient = auxk_coefficient;
    o.k_aux = 8;
    o.dead_tokens = 128 * 2;
    PlantedDictionarySource source(12, 24, 3, 1 << 20);
    TempDir dir;
    SaeTrainer t(o, {spec_for(Architecture::TopK)}, source, dir.path());
    t.initialize();
    {
      torch::NoGradGuard g;
      t.sae(0).W_enc.slice(1, 0, 16).mul_(0.01);
    }
    t.run();
    t.sae(0).eval();
    source.rewind();
    const auto x = source.next()->activations[0];
    torch::NoGradGuard g;
    const auto f = t.sae(0).encode(x);
    return (f.slice(1, 0, 16) > 0).any(0).sum().item<int64_t>();
  };
  const auto revived = run(1.0 / 32);
  const auto still_dead = run(0.0);
  INFO("alive of 16 with AuxK: " << revived << ", without: " << still_dead);
  CHECK(still_dead == 0);
  CHECK(revived >= 12);
}

TEST_CASE("save_final writes a SAELens SAE that works on raw activations", "[sae][trainer][io]") {
  auto o = small_options();
  o.normalization = ActivationNormalization::ExpectedAverageOnlyIn;
  const auto arch = GENERATE(Architecture::BatchTopK, Architecture::JumpReLU);
  PlantedDictionarySource source(12, 24, 3, 1 << 20);
  TempDir dir;
  SaeTrainer t(o, {spec_for(arch)}, source, dir.path());
  t.initialize();
  t.run();
  t.save_final();
  auto loaded = load_sae(dir / "sae");
  CHECK(loaded->config().normalization == ActivationNormalization::None);
  CHECK(loaded->config().hook_name == "blocks.0.hook_resid_post");
  auto& trained = t.sae(0);
  trained.eval();
  loaded->eval();
  source.rewind();
  const auto raw = source.next()->activations[0];
  torch::NoGradGuard g;
  // Trained: normalise, reconstruct, undo the scale. Loaded: raw in, raw out.
  const auto expected = trained.reconstruct(raw);
  const auto got = loaded->forward(raw).reconstruction;
  CHECK(max_abs_diff(expected, got) < 1e-4);
  CHECK(std::filesystem::exists(dir / "sae" / "sparsity.safetensors"));
}

TEST_CASE("learning-rate schedules follow the SAELens definitions", "[sae][trainer]") {
  LrSchedule s{1.0, LrScheduler::Constant, 4, 10, 0, 100};
  CHECK(s.at(0) == Approx(0.25));
  CHECK(s.at(3) == Approx(1.0));
  CHECK(s.at(50) == Approx(1.0));
  CHECK(s.at(90) == Approx(1.0));
  CHECK(s.at(95) == Approx(0.5));
  s.scheduler = LrScheduler::Cosine;
  s.decay_steps = 0;
  CHECK(s.at(4) == Approx(1.0));
  CHECK(s.at(99) == Approx(0.1).margin(1e-3));
  s.scheduler = LrScheduler::Linear;
  CHECK(s.at(4) == Approx(1.0));
  CHECK(s.at(52) == Approx(0.5));
  CHECK_THROWS_AS(parse_lr_scheduler("step"), fpokit::ConfigError);
}
