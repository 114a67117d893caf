// SaeTrainer checkpoints: out_dir/checkpoint/ holds trainer_state.json (step, tokens, the mixing
// buffer's position, the run's fingerprint) and, per SAE, state.safetensors (weights, buffers,
// dead counters, activation scale) and optimizer.pt (Adam moments and step counts, LibTorch
// archive). The folder is replaced atomically, so a crash leaves the previous checkpoint.
#include <fstream>

#include <torch/serialize.h>
#include <torch/torch.h>

#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "sae_trainer_unit.h"

namespace fpokit::sae {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kCheckpointDir = "checkpoint";
constexpr const char* kStateFile = "trainer_state.json";
}  // namespace

json SaeTrainer::fingerprint() const {
  const auto& o = options_;
  json saes = json::array();
  for (const auto& u : units_) {
    const auto& c = u->spec.config;
    saes.push_back({{"name", u->spec.name}, {"hook", c.hook_name}, {"architecture", architecture_name(c.architecture)},
                    {"d_in", c.d_in}, {"d_sae", c.d_sae}, {"k", c.k}});
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

bool SaeTrainer::has_checkpoint() const { return fs::exists(out_dir_ / kCheckpointDir / kStateFile); }

void SaeTrainer::save_checkpoint() const {
  core::write_directory_atomically(out_dir_ / kCheckpointDir, [&](const fs::path& tmp) {
    for (const auto& u : units_) {
      const auto dir = tmp / u->spec.name;
      fs::create_directories(dir);
      lm::write_safetensors(dir / "state.safetensors", u->state_tensors());
      torch::save(*u->optimizer, (dir / "optimizer.pt").string());
    }
    const json state = {{"step", step_}, {"tokens", tokens_}, {"buffer", buffer_.state()}, {"fingerprint", fingerprint()}};
    std::ofstream out(tmp / kStateFile, std::ios::binary);
    out << state.dump(2) << '\n';
    out.close();
    if (!out) throw InputError((tmp / kStateFile).string() + ": write failed (disk full?)");
  });
}

void SaeTrainer::resume() {
  const auto dir = out_dir_ / kCheckpointDir;
  const auto state_path = dir / kStateFile;
  std::ifstream in(state_path, std::ios::binary);
  if (!in) throw InputError("--resume: no checkpoint at " + state_path.string() + "; start without --resume");
  json state;
  try {
    state = json::parse(in);
  } catch (const json::exception& e) {
    throw CheckpointError(state_path.string() + ": not valid JSON (" + e.what() + "); delete the checkpoint folder to start over");
  }
  const auto saved = state.at("fingerprint");
  const auto now = fingerprint();
  std::string differences;
  for (const auto& [key, value] : now.items()) {
    if (!saved.contains(key) || saved[key] != value)
      differences += (differences.empty() ? "" : "; ") + key + " was " + (saved.contains(key) ? saved[key].dump() : "absent") +
                     ", now " + value.dump();
  }
  if (!differences.empty())
    throw InputError("--resume: the checkpoint in " + dir.string() + " is from a run with other settings (" + differences +
                     "); use the same settings or a new --out");
  for (auto& u : units_) {
    const auto unit_dir = dir / u->spec.name;
    lm::SafetensorsFile file(unit_dir / "state.safetensors");
    u->load_state_tensors([&](const std::string& name) {
      if (!file.find(name))
        throw CheckpointError((unit_dir / "state.safetensors").string() + ": tensor " + name + " is missing");
      return file.load(name);
    });
    torch::load(*u->optimizer, (unit_dir / "optimizer.pt").string());
  }
  step_ = state.at("step").get<int64_t>();
  tokens_ = state.at("tokens").get<int64_t>();
  buffer_.restore(state.at("buffer"));
}

}  // namespace fpokit::sae
