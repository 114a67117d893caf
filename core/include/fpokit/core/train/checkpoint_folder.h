#pragma once
// The checkpoint protocol every trainer follows (sae/ and fpo/), built so that a complete
// checkpoint is on disk at every instant, whenever the process is killed (SQLite's and HF
// Trainer's rules, docs/reliability.md "Save and resume"):
//  1. the trainer's files and trainer_state.json are written into `checkpoint-<step>.tmp-<pid>-<n>`;
//  2. every file and the folder are synced, the folder is renamed to `checkpoint-<step>` and the
//     output folder synced (the rename is the commit: a `checkpoint-<step>` folder is complete);
//  3. only then are the older `checkpoint-<k>` retired: each is renamed to a temporary name first
//     (so a half-deleted folder never looks complete), then deleted.
// Startup takes the newest complete `checkpoint-<step>` and removes the temporary folders of dead
// processes (never those of a live one: a second process writing into the same --out is refused).
// trainer_state.json carries the trainer's counters ("step", ...) and an "identity": the settings a
// resumed run must share with the run that wrote it. A finished run removes its checkpoints, so
// that a later run into the same folder does not look like an interrupted one.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fpokit::core {

// What `--resume` continues in an output folder (CheckpointFolder::resume_from).
enum class ResumeFrom {
  Checkpoint,  // the newest complete checkpoint
  Start,       // a run that was stopped before its first checkpoint: it starts again from step 0
  Finished,    // a finished run (its final outputs written, its checkpoints removed): nothing to do
};

struct LoadedCheckpoint {
  std::filesystem::path folder;  // <output_dir>/checkpoint-<step>: the trainer's files are read from here
  nlohmann::json state;          // trainer_state.json

  // Runs `read`, which reads the checkpoint file `file` (a name inside `folder`: "optimizer.pt",
  // "trainer_state.json", "sae/state.safetensors"); whatever it throws other than fpokit's own
  // errors (LibTorch's on a truncated optimizer.pt, nlohmann's on a missing key) becomes one
  // CheckpointError naming the file, what failed and what to do, instead of an internal error.
  void read_part(const std::string& file, const std::function<void()>& read) const;
};

class CheckpointFolder {
 public:
  static constexpr const char* kPrefix = "checkpoint-";
  static constexpr const char* kStateFile = "trainer_state.json";

  explicit CheckpointFolder(const std::filesystem::path& output_dir);

  const std::filesystem::path& output_dir() const { return output_dir_; }
  // The newest complete checkpoint (`checkpoint-<step>` holding trainer_state.json), if any.
  std::optional<std::filesystem::path> newest() const;
  bool exists() const { return newest().has_value(); }

  // For a run about to start in output_dir: removes the temporary folders that killed runs left;
  // InputError when another live process is writing checkpoints there, or when the run is not
  // resuming but the folder holds an interrupted run's checkpoint (continue it with --resume, or
  // choose another --out).
  void refuse_fresh_start_over(bool resuming) const;

  // What --resume means here, so that a run killed at any instant can be continued with --resume:
  // a checkpoint if there is one; else Finished when the run's final outputs are written (it was
  // killed while removing its checkpoints); else Start when the folder is empty (the run was killed
  // before writing anything) or holds one of `run_files` (what a run writes before its first step:
  // its config.toml, its log). InputError when there is no such folder, or it holds something else.
  ResumeFrom resume_from(bool final_outputs_written, const std::vector<std::string>& run_files) const;

  // Writes `checkpoint-<state["step"]>`: write_files(tmp) writes the trainer's files into a
  // temporary folder, `state` with `identity` added is written as trainer_state.json, and the
  // protocol above commits it and retires the older checkpoints. An exception anywhere leaves the
  // previous checkpoint and no temporary folder.
  void save(const nlohmann::json& identity, nlohmann::json state,
            const std::function<void(const std::filesystem::path& tmp)>& write_files) const;

  // The newest checkpoint, after checking that its identity equals `identity`. InputError when
  // there is none or when settings differ (every difference listed: "lr was 0.001, now 0.005");
  // CheckpointError when trainer_state.json is damaged (not JSON, no identity, no step).
  LoadedCheckpoint load(const nlohmann::json& identity) const;

  // Retires every checkpoint (after the run's final outputs are written).
  void remove() const;

 private:
  std::filesystem::path output_dir_;
};

}  // namespace fpokit::core
