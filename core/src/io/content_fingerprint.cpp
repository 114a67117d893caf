#include "fpokit/core/io/content_fingerprint.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <vector>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/sha256.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

// Nanoseconds since 1970 (libstdc++'s file_clock counts from 2174, which made every recorded
// modification time negative).
int64_t unix_nanoseconds(fs::file_time_type t) {
  const auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(sys.time_since_epoch()).count();
}

nlohmann::json file_record(const fs::path& p) {
  std::error_code ec;
  const uint64_t size = fs::file_size(p, ec);
  if (ec) throw InputError(p.string() + ": cannot read its size (" + ec.message() + ")");
  if (size <= kFullHashBytes) return {{"size", size}, {"sha256", sha256_file(p)}};
  const auto mtime = fs::last_write_time(p, ec);
  if (ec) throw InputError(p.string() + ": cannot read its modification time (" + ec.message() + ")");
  std::ifstream in(p, std::ios::binary);
  if (!in) throw InputError(p.string() + ": cannot open for hashing");
  constexpr std::streamsize kMiB = 1 << 20;
  std::vector<char> buffer(kMiB);
  Sha256 h;
  in.read(buffer.data(), kMiB);
  h.update(buffer.data(), static_cast<size_t>(in.gcount()));
  in.clear();
  in.seekg(static_cast<std::streamoff>(size) - kMiB);
  in.read(buffer.data(), kMiB);
  h.update(buffer.data(), static_cast<size_t>(in.gcount()));
  if (in.bad()) throw InputError(p.string() + ": read error while hashing");
  return {{"size", size}, {"mtime_ns", unix_nanoseconds(mtime)}, {"head_tail_sha256", h.hex_digest()}};
}

}  // namespace

nlohmann::json content_fingerprint(const fs::path& path, bool recursive) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {{"missing", true}};
  if (!fs::is_directory(path, ec)) return file_record(path);
  std::vector<fs::path> files;
  auto consider = [&](const fs::directory_entry& e) {
    if (e.path().filename().string().rfind('.', 0) == 0) return;
    if (e.is_regular_file(ec)) files.push_back(e.path());
  };
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it); it.increment(ec)) {
      if (it->path().filename().string().rfind('.', 0) == 0 && it->is_directory(ec)) {
        it.disable_recursion_pending();
        continue;
      }
      consider(*it);
    }
  } else {
    for (const auto& e : fs::directory_iterator(path, ec)) consider(e);
  }
  if (ec) throw InputError(path.string() + ": cannot list for fingerprinting (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : files) out[fs::relative(f, path).generic_string()] = file_record(f);
  return out;
}

}  // namespace fpokit::core
