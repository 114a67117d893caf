#include "fpokit/core/io/atomic_output.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28)
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "fpokit/core/errors.h"
#include "fpokit/core/fault/kill_point.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

// The folder that holds `target`'s directory entry, i.e. the one whose sync makes a rename durable.
fs::path parent_folder(const fs::path& target) {
  const fs::path absolute = fs::absolute(target);
  return absolute.has_parent_path() ? absolute.parent_path() : fs::path("/");
}

// A sibling of `target` named `<target><tag><pid>-<n>`: the pid keeps two processes apart, the
// counter two writers of one process (threads, or a directory and a file inside it).
fs::path sibling_name(const fs::path& target, const char* tag) {
  static std::atomic<std::uint64_t> counter{0};
  return fs::path(target.string() + tag + std::to_string(::getpid()) + "-" + std::to_string(counter++));
}

// Syncs every regular file and folder under `p` (depth first, the folder after its entries), so a
// folder written by any library (HDF5, LibTorch, ofstream) is on disk before it is renamed.
// Symlinks are not followed: what they point to is not part of the output.
void sync_tree(const fs::path& p) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(p, ec);
  if (ec) throw InputError(p.string() + ": cannot sync to disk: " + ec.message());
  if (fs::is_directory(status)) {
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) sync_tree(it->path());
    if (ec) throw InputError(p.string() + ": cannot list the folder to sync it: " + ec.message());
    fsync_path(p);
  } else if (fs::is_regular_file(status)) {
    fsync_path(p);
  }
}

// rename(2) rather than std::filesystem::rename, for errno (strerror) in the message.
void rename_or_throw(const fs::path& from, const fs::path& to, const std::string& what) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw InputError(to.string() + ": " + what + " " + from.filename().string() + ": " + std::strerror(errno));
  }
}

// The writer's pid when `name` is `<prefix><digits>.tmp-<pid>-<n>` or `.old-<pid>-<n>`, else -1.
long temporary_owner(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) != prefix) return -1;
  name.remove_prefix(prefix.size());
  const auto all_digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  const auto dot = name.find('.');
  if (dot == std::string_view::npos || (dot > 0 && !all_digits(name.substr(0, dot)))) return -1;
  name.remove_prefix(dot + 1);
  if (name.substr(0, 4) != "tmp-" && name.substr(0, 4) != "old-") return -1;
  name.remove_prefix(4);
  const auto dash = name.find('-');
  // A pid has at most 7 digits (pid_max <= 2^22); a longer run of digits is not our name (and
  // would overflow std::stol).
  if (dash == std::string_view::npos || dash > 9 || !all_digits(name.substr(0, dash)) ||
      !all_digits(name.substr(dash + 1)))
    return -1;
  return std::stol(std::string(name.substr(0, dash)));
}

// kill(pid, 0): ESRCH means no such process; EPERM means one exists (another user's).
bool process_is_running(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

std::vector<long> remove_stale_temporaries(const fs::path& folder, std::string_view prefix) {
  std::vector<long> live;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const long pid = temporary_owner(it->path().filename().string(), prefix);
    if (pid < 0) continue;
    if (pid != ::getpid() && process_is_running(pid)) {
      live.push_back(pid);
      continue;
    }
    // Our own pid: a crashed earlier process that had the same pid (this process never leaves one
    // behind while it runs: every writer removes its temporary on failure).
    remove_tree(it->path());
  }
  return live;
}

void fsync_path(const fs::path& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw InputError(path.string() + ": cannot open to sync to disk: " + std::strerror(errno));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  // EINVAL: the file system (some FUSE and network ones) does not support syncing; the data was
  // written, and there is nothing more to do for its durability here.
  if (result != 0 && error != EINVAL) {
    throw InputError(path.string() + ": cannot sync to disk: " + std::strerror(error));
  }
}

void remove_tree(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(p, ec))) {
    for (const auto& entry : fs::directory_iterator(p, ec)) remove_tree(entry.path());
  }
  fs::remove(p, ec);
}

fs::path temporary_sibling(const fs::path& target) {
  remove_stale_temporaries(parent_folder(target), fs::absolute(target).filename().string());
  return sibling_name(target, ".tmp-");
}

void commit_temporary_file(const fs::path& tmp, const fs::path& target) {
  try {
    kill_point("file-written");
    fsync_path(tmp);
    rename_or_throw(tmp, target, "cannot replace with");
  } catch (...) {
    remove_tree(tmp);  // a file, unless fill made something else there
    throw;
  }
  fsync_path(parent_folder(target));
}

void write_file_atomically(const fs::path& target, const std::function<void(const fs::path&)>& fill) {
  const fs::path tmp = temporary_sibling(target);
  remove_tree(tmp);  // left by a crashed process that had the same pid
  try {
    fill(tmp);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  commit_temporary_file(tmp, target);
}

void write_directory_atomically(const fs::path& dir, const std::function<void(const fs::path&)>& fill) {
  const fs::path target = fs::absolute(dir);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const fs::path tmp = temporary_sibling(target);
  const fs::path old = sibling_name(target, ".old-");
  remove_tree(tmp);
  if (!fs::create_directories(tmp, ec) && ec)
    throw InputError(tmp.string() + ": cannot create folder: " + ec.message());
  try {
    fill(tmp);
    kill_point("folder-written");
    sync_tree(tmp);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  const bool had_old = fs::exists(target);
  // Swap in one step where the file system can: `target` is never missing.
  if (had_old && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    remove_tree(tmp);  // now the old folder
    fsync_path(parent_folder(target));
    return;
  }
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
  // Makes both renames (and the removal of the old folder) durable.
  fsync_path(parent_folder(target));
}

void write_text_file_atomically(const fs::path& path, std::string_view contents) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  write_file_with(path, [&](const ByteWriter& write) { write(contents.data(), contents.size()); });
}

void write_file_with(const fs::path& path, const std::function<void(const ByteWriter& write)>& serialize) {
  write_file_atomically(path, [&](const fs::path& tmp) {
    int fd = -1;
    do {
      fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) throw InputError(path.string() + ": cannot create: " + std::strerror(errno));
    int error = 0;
    const ByteWriter write = [&](const void* data, size_t size) -> size_t {
      const char* p = static_cast<const char*>(data);
      size_t left = size;
      while (error == 0 && left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          error = n < 0 ? errno : ENOSPC;
          break;
        }
        p += n;
        left -= static_cast<size_t>(n);
      }
      return size;  // after a failure, pretend: the caller's writer must finish, not abort
    };
    try {
      serialize(write);
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error != 0) throw InputError(path.string() + ": cannot write: " + std::strerror(error));
  });
}

}  // namespace fpokit::core
