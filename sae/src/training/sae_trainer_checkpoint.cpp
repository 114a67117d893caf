// SaeTrainer checkpoints (core::CheckpointFolder's protocol): out_dir/checkpoint-<step>/ holds
// trainer_state.json (step, tokens, the mixing buffer's position; identity: the run's fingerprint)
// and, per SAE, state.safetensors (weights, buffers, dead counters, activation scale) and
// optimizer.pt (Adam moments and step counts, LibTorch archive).
#include <torch/serialize.h>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/json_integer.h"
#include "fpokit/core/train/checkpoint_folder.h"
#include "fpokit/core/train/optimizer_state.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "sae_trainer_unit.h"

namespace fpokit::sae {

namespace fs = std::filesystem;
using nlohmann::json;

json SaeTrainer::fingerprint() const {
  const auto& o = options_;
  json saes = json::array();
  for (const auto& u : units_) {
    const auto& c = u->spec.config;
    saes.push_back({{"name", u->spec.name},
                    {"hook", c.hook_name},
                    {"architecture", architecture_name(c.architecture)},
                    {"d_in", c.d_in},
                    {"d_sae", c.d_sae},
                    {"k", c.k}});
  }
  return {{"saes", saes},
          {"data", source_.describe()},
          {"total_tokens", o.total_tokens},
          {"batch_tokens", o.batch_tokens},
          {"buffer_tokens", o.buffer_tokens},
          {"seed", o.seed},
          {"lr", o.lr},
          {"lr_scheduler", core::lr_scheduler_name(o.lr_scheduler)},
          {"lr_warmup_steps", o.lr_warmup_steps},
          {"lr_decay_steps", o.lr_decay_steps},
          {"normalization", normalization_name(o.normalization)},
          {"l1_coefficient", o.l1_coefficient},
          {"l0_coefficient", o.l0_coefficient},
          {"auxk_coefficient", o.auxk_coefficient},
          {"dead_tokens", o.dead_tokens}};
}

bool SaeTrainer::has_checkpoint() const { return core::CheckpointFolder(out_dir_).exists(); }

void SaeTrainer::save_checkpoint() const {
  const json state = {{"step", step_}, {"tokens", tokens_}, {"buffer", buffer_.state()}};
  core::CheckpointFolder(out_dir_).save(fingerprint(), state, [&](const fs::path& tmp) {
    for (const auto& u : units_) {
      const auto dir = tmp / u->spec.name;
      fs::create_directories(dir);
      lm::write_safetensors(dir / "state.safetensors", u->state_tensors());
      core::write_file_with(dir / "optimizer.pt",
                            [&](const core::ByteWriter& write) { torch::save(*u->optimizer, write); });
    }
  });
}

void SaeTrainer::resume() {
  const auto checkpoint = core::CheckpointFolder(out_dir_).load(fingerprint());
  const auto& state = checkpoint.state;
  for (auto& u : units_) {
    const auto unit_dir = checkpoint.folder / u->spec.name;
    checkpoint.read_part(u->spec.name + "/state.safetensors", [&] {
      lm::SafetensorsFile file(unit_dir / "state.safetensors");
      u->load_state_tensors([&](const std::string& name) {
        if (!file.find(name))
          throw CheckpointError((unit_dir / "state.safetensors").string() + ": tensor " + name + " is missing");
        return file.load(name);
      });
    });
    checkpoint.read_part(u->spec.name + "/optimizer.pt", [&] {
      torch::load(*u->optimizer, (unit_dir / "optimizer.pt").string());
      core::check_optimizer_state(*u->optimizer);
    });
  }
  checkpoint.read_part(core::CheckpointFolder::kStateFile, [&] {
    step_ = core::json_state_integer(state, "step");
    tokens_ = core::json_state_integer(state, "tokens");
    buffer_.restore(state.at("buffer"));
  });
}

}  // namespace fpokit::sae
