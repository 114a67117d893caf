#include "fpokit/core/train/metrics_log.h"

#include <cerrno>
#include <cstring>
#include <sstream>
#include <string>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

// The lines of `path` that a run resumed at `step` keeps.
std::string lines_up_to(const fs::path& path, int64_t step) {
  std::ifstream in(path, std::ios::binary);
  std::string kept, line;
  while (std::getline(in, line)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      continue;  // a line torn by the crash
    }
    if (j.is_object() && j.contains("step") && j["step"].is_number() &&
        j["step"].get<double>() > static_cast<double>(step))
      continue;
    kept += line + "\n";
  }
  return kept;
}

}  // namespace

MetricsLog::MetricsLog(fs::path path, std::optional<int64_t> resumed_step) : path_(std::move(path)) {
  if (resumed_step && fs::exists(path_)) write_text_file_atomically(path_, lines_up_to(path_, *resumed_step));
  out_.open(path_, std::ios::binary | (resumed_step ? std::ios::app : std::ios::trunc));
  if (!out_)
    throw InputError(path_.string() + ": cannot open for writing: " + (errno != 0 ? std::strerror(errno) : "failed"));
}

void MetricsLog::write(const nlohmann::json& line) {
  errno = 0;
  out_ << line.dump() << '\n';
  out_.flush();
  // The stream keeps no reason; write(2)'s errno is still there (ENOSPC: "No space left on device").
  if (!out_)
    throw InputError(path_.string() + ": cannot write: " + (errno != 0 ? std::strerror(errno) : "write failed"));
}

}  // namespace fpokit::core
