#pragma once
// The checkpoint protocol every trainer follows (sae/ and fpo/): <output_dir>/checkpoint/ holds
// trainer_state.json beside the trainer's own files (weights, optimizer state). trainer_state.json
// carries the trainer's counters ("step", ...) and an "identity": the settings a resumed run must
// share with the run that wrote it. The folder is replaced atomically (write_directory_atomically),
// so a crash while saving leaves the previous checkpoint whole; a finished run removes it, so that
// a later run into the same folder does not look like an interrupted one.
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

namespace fpokit::core {

class CheckpointFolder {
 public:
  static constexpr const char* kFolderName = "checkpoint";
  static constexpr const char* kStateFile = "trainer_state.json";

  explicit CheckpointFolder(const std::filesystem::path& output_dir);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path state_file() const { return path_ / kStateFile; }
  bool exists() const;

  // For a run about to start in output_dir: InputError when it is not resuming but the folder holds
  // an interrupted run's checkpoint (continue it with --resume, or choose another --out).
  void refuse_fresh_start_over(bool resuming) const;

  // Writes a new checkpoint: write_files(tmp) writes the trainer's files into a temporary folder,
  // then `state` with `identity` added is written as trainer_state.json and the folder replaces the
  // old one. An exception anywhere leaves the previous checkpoint and no temporary folder.
  void save(const nlohmann::json& identity, nlohmann::json state,
            const std::function<void(const std::filesystem::path& tmp)>& write_files) const;

  // trainer_state.json, after checking that its identity equals `identity`. InputError when there
  // is no checkpoint or when settings differ (every difference listed: "lr was 0.001, now 0.005");
  // CheckpointError when the file is not valid JSON.
  nlohmann::json load(const nlohmann::json& identity) const;

  // Deletes the folder (after the run's final outputs are written).
  void remove() const;

 private:
  std::filesystem::path path_;
};

}  // namespace fpokit::core
