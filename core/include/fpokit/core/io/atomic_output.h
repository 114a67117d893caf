#pragma once
// Outputs that are never seen half-written: a file or folder is written under a sibling
// temporary name and renamed into place, so an interrupted run leaves the previous version (or
// nothing), never a torn one. Every hand-written temp+rename in fpokit goes through here:
// safetensors files, SAE and training checkpoint folders, the activation cache, the reference
// cache, drift reports and JSON outputs.
//
// Why the fsyncs: rename() is atomic for a running system but not across a power loss or kernel
// crash. The rename (a directory entry) may reach the disk before the file's data does, so after
// a crash `target` can exist but be empty or hold zeros (the ext4 "zero-length file" problem, and
// why SQLite syncs a file and its directory). So the temporary file's data is synced before the
// rename, and the parent folder is synced after it so the rename itself is durable.
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

namespace fpokit::core {

// Temporary names carry the writer's process id (`<target>.tmp-<pid>-<n>`, `<target>.old-<pid>-<n>`),
// so that what a killed process left behind can be told from what a live one is writing: each
// writer first removes the stale temporaries of its target (remove_stale_temporaries).
//
// Calls fill(tmp) with a path in target's folder that names nothing yet (`<target>.tmp-<pid>-<n>`);
// fill creates the file there, writes it and closes it. Then the file is synced, renamed over
// `target` and the folder synced. If fill, the sync or the rename throws or fails, the temporary
// file is removed and `target` is untouched (its old content, or absent); fill's exception is
// rethrown as it is, the others are InputError naming the path and the system's reason. The
// parent folder of `target` must exist.
void write_file_atomically(const std::filesystem::path& target,
                           const std::function<void(const std::filesystem::path& tmp)>& fill);

// The two halves of write_file_atomically, for a writer that keeps its file open across calls
// (ActivationFileWriter creates it in its constructor and renames it in commit()).
// A fresh sibling name for `target` that names nothing now (unique per process and call); removes
// the stale temporaries of `target` first.
std::filesystem::path temporary_sibling(const std::filesystem::path& target);
// Syncs the finished, closed file `tmp`, renames it over `target` and syncs the folder. On any
// failure removes `tmp` (as far as it still exists) and throws InputError.
void commit_temporary_file(const std::filesystem::path& tmp, const std::filesystem::path& target);

// Calls fill(tmp) with an empty sibling folder of `target`, then replaces `target` with it. An
// existing `target` is exchanged with the new folder in one renameat2(RENAME_EXCHANGE), so that
// `target` names a complete folder at every instant, and then removed (file systems without
// RENAME_EXCHANGE: moved aside first, which leaves an instant with no `target`). Before the rename every file and
// folder inside `tmp` is synced (fill may write with any library), after it the parent folder. If fill or a sync
// throws, the temporary folder is removed and `target` is untouched. Throws InputError when the folders cannot be
// created, synced or renamed.
void write_directory_atomically(const std::filesystem::path& target,
                                const std::function<void(const std::filesystem::path& tmp)>& fill);

// Removes the entries of `folder` named `<prefix><digits>.tmp-<pid>-<n>` or `<prefix><digits>.old-<pid>-<n>`
// (<digits> may be empty) whose process is no longer running: what a killed writer left. Those of a
// live process are kept (it may still be writing them). Returns the pids of the live writers found.
std::vector<long> remove_stale_temporaries(const std::filesystem::path& folder, std::string_view prefix);

// Writes `contents` to `path` through write_file_atomically; creates the parent folder.
void write_text_file_atomically(const std::filesystem::path& path, std::string_view contents);

// Writes `path` (through write_file_atomically) with what `serialize` passes to the writer it is
// given, the form LibTorch's archives take (torch::save(value, writer)). Every write is checked;
// after the first failure (disk full) the writer records the system's reason and swallows the
// rest, so that LibTorch's archive writer finishes instead of aborting the process on a short
// write; then InputError "<path>: cannot write: No space left on device" and no file is left.
using ByteWriter = std::function<size_t(const void* data, size_t size)>;
void write_file_with(const std::filesystem::path& path, const std::function<void(const ByteWriter& write)>& serialize);

// fsync(2) of a file or folder by path, for callers that write a file themselves and close it
// (HDF5 has no fsync of its own). A file system that cannot sync (EINVAL) is not an error.
// Throws InputError "<path>: cannot sync to disk: <reason>".
void fsync_path(const std::filesystem::path& path);

// Removes a folder tree without std::filesystem::remove_all: the pip libtorch.so exports a
// broken copy that the dynamic linker may bind instead of libstdc++'s. Errors are ignored.
void remove_tree(const std::filesystem::path& path);

}  // namespace fpokit::core
