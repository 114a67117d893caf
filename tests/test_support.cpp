#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace fpokit::test {

std::vector<std::string> folder_entries(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("fpokit-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

namespace {
// Not std::filesystem::remove_all: libtorch.so (the pip wheel) exports its own copy of the
// std::filesystem functions, which the dynamic linker binds ahead of libstdc++'s, and its
// remove_all crashes (calls a null pointer). Iteration and remove() from that copy work.
void remove_tree(const std::filesystem::path& p) {
  std::error_code ec;
  if (std::filesystem::is_directory(std::filesystem::symlink_status(p, ec))) {
    for (const auto& entry : std::filesystem::directory_iterator(p, ec)) remove_tree(entry.path());
  }
  std::filesystem::remove(p, ec);
}
}  // namespace

TempDir::~TempDir() { remove_tree(path_); }

static std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult run_command(const std::string& command_line) {
  TempDir tmp;
  const auto out = tmp / "stdout";
  const auto err = tmp / "stderr";
  const std::string full = command_line + " >'" + out.string() + "' 2>'" + err.string() + "' </dev/null";
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace fpokit::test
