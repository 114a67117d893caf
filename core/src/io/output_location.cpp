#include "fpokit/core/io/output_location.h"

#include <unistd.h>

#include <system_error>

#include "fpokit/core/errors.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

// The nearest ancestor of `path` that exists (the path itself when it does).
fs::path nearest_existing(const fs::path& path) {
  fs::path p = fs::absolute(path);
  std::error_code ec;
  while (!p.empty() && !fs::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return p;
}

}  // namespace

void check_output_location(const fs::path& path, OutputKind kind, const OutputPolicy& policy,
                           const std::string& option) {
  const std::string where = option + " " + path.string();
  if (path.empty()) throw InputError(option + " is empty: give a path to write to");
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (fs::exists(status)) {
    if (kind == OutputKind::Directory && !fs::is_directory(status))
      throw InputError(where + " is a file, not a folder: choose a folder path");
    if (kind == OutputKind::File && fs::is_directory(status))
      throw InputError(where + " is a folder: give a file path");
    const bool has_content = kind == OutputKind::File || (fs::is_directory(status) && !fs::is_empty(path, ec) && !ec);
    if (has_content && !policy.resume && !policy.overwrite)
      throw InputError(where +
                       (kind == OutputKind::File ? " already exists" : " already holds the outputs of an earlier run") +
                       ": choose another " + option + ", or pass --overwrite-output-dir to replace " +
                       (kind == OutputKind::File ? "it" : "them"));
  }
  const auto existing = nearest_existing(path);
  if (existing != fs::absolute(path) && !fs::is_directory(existing, ec))
    throw InputError(where + ": " + existing.string() + " is a file, so nothing can be written under it");
  // The folder that receives the new entry must be writable (and searchable).
  const auto folder = fs::is_directory(existing, ec) ? existing : existing.parent_path();
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw InputError(where + ": " + folder.string() + " is not writable (permissions or a read-only file system)");
}

}  // namespace fpokit::core
