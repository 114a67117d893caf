#pragma once
// Helpers shared by the test suites.
#include <filesystem>
#include <string>
#include <vector>

namespace fpokit::test {

inline std::filesystem::path fixtures_dir() { return FPOKIT_FIXTURES_DIR; }
inline std::filesystem::path fixture(const std::string& relative) { return fixtures_dir() / relative; }
inline std::filesystem::path fpokit_binary() { return FPOKIT_BINARY; }
// A file of the repository itself (models/..., bench/...): fixtures live in tests/fixtures.
inline std::filesystem::path repo_file(const std::string& relative) { return fixtures_dir() / "../.." / relative; }

// A path quoted for /bin/sh (test paths contain no single quote).
inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }
// The command line that runs the fpokit binary with `args`.
inline std::string fpokit_cmd(const std::string& args) { return quoted(fpokit_binary()) + " " + args; }
// A whole file's bytes ("" when it cannot be read), and a file replaced by `bytes`.
std::string read_bytes(const std::filesystem::path& p);
void write_bytes(const std::filesystem::path& p, const std::string& bytes);

// The names of a folder's entries, sorted.
std::vector<std::string> folder_entries(const std::filesystem::path& dir);

// A fresh empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Runs a command line through /bin/sh; returns its exit code and captures stdout/stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::string& command_line);

}  // namespace fpokit::test
