#include "fpokit/core/train/checkpoint_folder.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/fault/kill_point.h"
#include "fpokit/core/io/atomic_output.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

// The step of a committed checkpoint folder name `checkpoint-<digits>`, else nullopt (temporary
// names have a '.' after the digits).
std::optional<int64_t> committed_step(const std::string& name) {
  const std::string prefix = CheckpointFolder::kPrefix;
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return std::nullopt;
  const auto digits = name.substr(prefix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) return std::nullopt;
  return std::stoll(digits);
}

// The committed checkpoints of `output_dir`, oldest first; complete ones hold trainer_state.json.
std::vector<std::pair<int64_t, fs::path>> committed_checkpoints(const fs::path& output_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator it(output_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (const auto step = committed_step(it->path().filename().string()); step && it->is_directory(ec))
      found.emplace_back(*step, it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Renames `folder` to a temporary name, then deletes it: a kill halfway leaves a temporary folder
// (removed at the next start), never a `checkpoint-<step>` that looks complete but is not.
void retire(const fs::path& folder) {
  const auto doomed = temporary_sibling(folder);
  if (::rename(folder.c_str(), doomed.c_str()) != 0) return remove_tree(folder);
  kill_point("checkpoint-retiring");
  remove_tree(doomed);
}

std::string live_writer_message(const fs::path& output_dir, const std::vector<long>& pids) {
  return output_dir.string() + " is being written by another running fpokit process (pid " + std::to_string(pids[0]) +
         "): wait for it to finish or stop it, or choose another --out";
}

}  // namespace

void LoadedCheckpoint::read_part(const std::string& file, const std::function<void()>& read) const {
  const auto damaged = [&](std::string what) {
    if (const auto newline = what.find('\n'); newline != std::string::npos) what.resize(newline);  // no backtrace
    // LibTorch's zip reader goes on for two more sentences about reporting a bug: its first says it.
    if (const auto sentence = what.find(". "); sentence != std::string::npos) what.resize(sentence);
    throw CheckpointError((folder / file).string() + " is damaged (" + what + "): delete " + folder.string() +
                          " to resume from an earlier checkpoint, or start again with --overwrite-output-dir");
  };
  try {
    read();
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    damaged(e.what_without_backtrace());
  } catch (const std::exception& e) {
    damaged(e.what());
  }
}

CheckpointFolder::CheckpointFolder(const fs::path& output_dir) : output_dir_(output_dir) {}

std::optional<fs::path> CheckpointFolder::newest() const {
  const auto found = committed_checkpoints(output_dir_);
  for (auto it = found.rbegin(); it != found.rend(); ++it) {
    if (fs::exists(it->second / kStateFile)) return it->second;
  }
  return std::nullopt;
}

void CheckpointFolder::refuse_fresh_start_over(bool resuming) const {
  if (const auto live = remove_stale_temporaries(output_dir_, kPrefix); !live.empty())
    throw InputError(live_writer_message(output_dir_, live));
  if (!resuming && exists())
    throw InputError(output_dir_.string() +
                     " holds a checkpoint of an earlier run: continue it with --resume, or choose another --out");
}

ResumeFrom CheckpointFolder::resume_from(bool final_outputs_written, const std::vector<std::string>& run_files) const {
  if (exists()) return ResumeFrom::Checkpoint;
  if (final_outputs_written) return ResumeFrom::Finished;
  std::error_code ec;
  if (fs::is_directory(output_dir_, ec)) {
    for (const auto& name : run_files)
      if (fs::exists(output_dir_ / name, ec)) return ResumeFrom::Start;
    // Empty, or only what a writer killed before its first rename left (`<name>.tmp-<pid>-<n>`).
    bool only_temporaries = true;
    for (fs::directory_iterator it(output_dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      only_temporaries =
          only_temporaries && (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos);
    }
    if (only_temporaries && !ec) return ResumeFrom::Start;
  }
  std::string files;
  for (const auto& name : run_files) files += (files.empty() ? "" : ", ") + name;
  throw InputError("--resume: " + output_dir_.string() + " holds no run to continue (no checkpoint-<step> folder, no " +
                   files + "); start without --resume, or give the --out of the run to continue");
}

void CheckpointFolder::save(const nlohmann::json& identity, nlohmann::json state,
                            const std::function<void(const fs::path&)>& write_files) const {
  const int64_t step = state.at("step").get<int64_t>();
  state["identity"] = identity;
  const fs::path target = output_dir_ / (kPrefix + std::to_string(step));
  const auto older = committed_checkpoints(output_dir_);
  write_directory_atomically(target, [&](const fs::path& tmp) {
    write_files(tmp);
    write_text_file_atomically(tmp / kStateFile, state.dump(2) + "\n");
    kill_point("checkpoint-written");
  });
  kill_point("checkpoint-renamed");
  for (const auto& [old_step, folder] : older) {
    if (old_step != step) retire(folder);
  }
}

LoadedCheckpoint CheckpointFolder::load(const nlohmann::json& identity) const {
  const auto folder = newest();
  if (!folder) throw InputError("--resume: no checkpoint in " + output_dir_.string() + "; start without --resume");
  const auto file = *folder / kStateFile;
  std::ifstream in(file, std::ios::binary);
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
  if (!state.contains("step") || !state["step"].is_number_integer() || state["step"].get<int64_t>() < 0)
    throw CheckpointError(file.string() +
                          ": no \"step\" (a non-negative integer); delete the checkpoint folder to start over");
  const auto& saved = state["identity"];
  std::string differences;
  for (const auto& [key, value] : identity.items()) {
    if (saved.contains(key) && saved[key] == value) continue;
    differences += (differences.empty() ? "" : "; ") + key + " was " +
                   (saved.contains(key) ? saved[key].dump() : "absent") + ", now " + value.dump();
  }
  if (!differences.empty())
    throw InputError("--resume: the checkpoint in " + folder->string() + " is from a run with other settings (" +
                     differences + "); use the same settings and data, or a new --out");
  return {*folder, std::move(state)};
}

void CheckpointFolder::remove() const {
  for (const auto& [step, folder] : committed_checkpoints(output_dir_)) retire(folder);
  // The single `checkpoint/` folder of fpokit before the numbered protocol.
  remove_tree(output_dir_ / "checkpoint");
  std::error_code ec;
  if (fs::is_directory(output_dir_, ec)) fsync_path(output_dir_);
}

}  // namespace fpokit::core
