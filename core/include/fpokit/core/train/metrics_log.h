#pragma once
// The training log every trainer writes (sae train: training_log.jsonl, train: metrics.jsonl): one
// JSON object per line, flushed line by line, so a crash loses at most the line being written.
// A resumed run first drops what the interrupted run logged after its last checkpoint (those steps
// are trained again, and a torn last line cannot be parsed), so the log of an interrupted and
// resumed run holds each step once, as an uninterrupted run's does.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

namespace fpokit::core {

class MetricsLog {
 public:
  // A new log (an existing file is replaced), or, with resumed_step, the existing log cut to its
  // lines whose "step" is at most *resumed_step (lines without a step are kept), then appended to.
  MetricsLog(std::filesystem::path path, std::optional<int64_t> resumed_step);

  // Appends one line and flushes it. InputError when the write fails (disk full).
  void write(const nlohmann::json& line);

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace fpokit::core
