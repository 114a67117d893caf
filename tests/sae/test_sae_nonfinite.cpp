// sae train stops at a non-finite loss, as `train` does: an InputError naming the SAE, and the last
// checkpoint is the last finite one (before, the run went on and saved an all-NaN SAE, exit 0).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/sae/training/sae_trainer.h"
#include "synthetic_source.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::sae;
using fpokit::test::PlantedDictionarySource;

TEST_CASE("a non-finite SAE loss stops training and keeps the last finite checkpoint", "[sae][trainer][nan]") {
  TrainerOptions o;
  o.batch_tokens = 128;
  o.total_tokens = 128 * 24;
  o.buffer_tokens = 1000;
  o.lr = 1e-3;
  o.log_every_steps = 0;
  o.checkpoint_every_tokens = 128 * 2;
  SaeSpec spec;
  spec.name = "sae";
  spec.config.architecture = Architecture::TopK;
  spec.config.d_sae = 48;
  spec.config.k = 4;
  test::TempDir dir;
  // A finite run leaves a checkpoint; then a fresh run in the same folder with a learning rate
  // that overflows float32.
  PlantedDictionarySource source(12, 24, 3, 1 << 20, 300);
  {
    auto first = o;
    first.stop_after_tokens = 128 * 6;
    SaeTrainer t(first, {spec}, source, dir.path());
    t.initialize();
    REQUIRE_FALSE(t.run());
  }
  o.lr = 1e30;  // Adam's first step moves every weight by ~lr: the squared error overflows
  SaeTrainer t(o, {spec}, source, dir.path());
  t.initialize();
  CHECK_THROWS_AS(t.run(), InputError);
  CHECK_THROWS_WITH(t.run(), Catch::Contains("non-finite") && Catch::Contains("last checkpoint is kept"));
  // Whatever checkpoint is on disk is finite.
  lm::SafetensorsFile saved(*core::CheckpointFolder(dir.path()).newest() / "sae/state.safetensors");
  for (const auto& info : saved.tensors()) {
    INFO(info.name);
    const auto t_saved = saved.load(info.name);
    if (t_saved.is_floating_point()) CHECK(torch::isfinite(t_saved).all().item<bool>());
  }
}
