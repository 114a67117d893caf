#include "fpokit/core/io/atomic_output.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "fpokit/core/errors.h"

namespace fpokit::core {

namespace fs = std::filesystem;

void remove_tree(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(p, ec))) {
    for (const auto& entry : fs::directory_iterator(p, ec)) remove_tree(entry.path());
  }
  fs::remove(p, ec);
}

void write_directory_atomically(const fs::path& dir, const std::function<void(const fs::path&)>& fill) {
  const fs::path target = fs::absolute(dir);
  const std::string suffix = "." + std::to_string(::getpid());
  const fs::path tmp = target.string() + ".tmp" + suffix;
  const fs::path old = target.string() + ".old" + suffix;
  std::error_code ec;
  remove_tree(tmp);
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (!fs::create_directories(tmp, ec) && ec)
    throw InputError(tmp.string() + ": cannot create folder: " + ec.message());
  try {
    fill(tmp);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  const bool had_old = fs::exists(target);
  if (had_old) {
    fs::rename(target, old, ec);
    if (ec) {
      remove_tree(tmp);
      throw InputError(target.string() + ": cannot replace the existing folder: " + ec.message());
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    if (had_old) fs::rename(old, target, ec);
    remove_tree(tmp);
    throw InputError(target.string() + ": cannot move the written folder into place: " + ec.message());
  }
  if (had_old) remove_tree(old);
}

void write_text_file_atomically(const fs::path& path, std::string_view contents) {
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      throw InputError(path.string() + ": write failed (disk full or no permission?)");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw InputError(path.string() + ": cannot move the written file into place: " + ec.message());
  }
}

}  // namespace fpokit::core
