#include "fpokit/core/train/checkpoint_folder.h"

#include <fstream>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"

namespace fpokit::core {

namespace fs = std::filesystem;

CheckpointFolder::CheckpointFolder(const fs::path& output_dir) : path_(output_dir / kFolderName) {}

bool CheckpointFolder::exists() const { return fs::exists(state_file()); }

void CheckpointFolder::refuse_fresh_start_over(bool resuming) const {
  if (!resuming && fs::exists(path_))
    throw InputError(path_.parent_path().string() +
                     " holds a checkpoint of an earlier run: continue it with --resume, or choose another --out");
}

void CheckpointFolder::save(const nlohmann::json& identity, nlohmann::json state,
                            const std::function<void(const fs::path&)>& write_files) const {
  state["identity"] = identity;
  write_directory_atomically(path_, [&](const fs::path& tmp) {
    write_files(tmp);
    write_text_file_atomically(tmp / kStateFile, state.dump(2) + "\n");
  });
}

nlohmann::json CheckpointFolder::load(const nlohmann::json& identity) const {
  const auto file = state_file();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("--resume: no checkpoint at " + file.string() + "; start without --resume");
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(file.string() + ": not valid JSON (" + e.what() +
                          "); delete the checkpoint folder to start over");
  }
  if (!state.is_object() || !state.contains("identity") || !state["identity"].is_object())
    throw CheckpointError(file.string() +
                          ": no \"identity\" object (not a fpokit checkpoint, or from an older "
                          "version); delete the checkpoint folder to start over");
  const auto& saved = state["identity"];
  std::string differences;
  for (const auto& [key, value] : identity.items()) {
    if (saved.contains(key) && saved[key] == value) continue;
    differences += (differences.empty() ? "" : "; ") + key + " was " +
                   (saved.contains(key) ? saved[key].dump() : "absent") + ", now " + value.dump();
  }
  if (!differences.empty())
    throw InputError("--resume: the checkpoint in " + path_.string() + " is from a run with other settings (" +
                     differences + "); use the same settings and data, or a new --out");
  return state;
}

void CheckpointFolder::remove() const { remove_tree(path_); }

}  // namespace fpokit::core
