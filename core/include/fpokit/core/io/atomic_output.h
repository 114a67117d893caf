#pragma once
// Outputs that are never seen half-written: a file or folder is written under a sibling
// temporary name and renamed into place, so an interrupted run leaves the previous version (or
// nothing), never a torn one. Used for SAEs, training checkpoints, caches and reports.
#include <filesystem>
#include <functional>
#include <string_view>

namespace fpokit::core {

// Calls fill(tmp) with an empty sibling folder of `target`, then replaces `target` with it (an
// existing `target` is swapped out and removed). If fill throws, the temporary folder is removed
// and `target` is untouched. Throws InputError when the folders cannot be created or renamed.
void write_directory_atomically(const std::filesystem::path& target,
                                const std::function<void(const std::filesystem::path& tmp)>& fill);

// Writes `contents` to `path` through a temporary sibling file and a rename.
void write_text_file_atomically(const std::filesystem::path& path, std::string_view contents);

// Removes a folder tree without std::filesystem::remove_all: the pip libtorch.so exports a
// broken copy that the dynamic linker may bind instead of libstdc++'s. Errors are ignored.
void remove_tree(const std::filesystem::path& path);

}  // namespace fpokit::core
