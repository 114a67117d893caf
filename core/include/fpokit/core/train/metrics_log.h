#pragma once
// The training log every trainer writes (sae train: training_log.jsonl, train: metrics.jsonl): one
// JSON object per line, flushed line by line, so a crash loses at most the line being written.
// A resumed run first drops what the interrupted run logged after its last checkpoint (those steps
// are trained again, and a torn last line cannot be parsed), so the log of an interrupted and
// resumed run holds each step once, as an uninterrupted run's does.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "fpokit/core/log/tensorboard_writer.h"

namespace fpokit::core {

class MetricsLog {
 public:
  // A new log (an existing file is replaced), or, with resumed_step, the existing log cut to its
  // lines whose "step" is at most *resumed_step (lines without a step are kept), then appended to.
  // tensorboard_dir (--report-to tensorboard): every line with a "step" also goes there as
  // scalars with the same names (nested objects as "key/field", a list of per-SAE objects as
  // "key/<its sae name>/field"); a fresh start clears the folder, a resume adds a file to it.
  MetricsLog(std::filesystem::path path, std::optional<int64_t> resumed_step,
             std::optional<std::filesystem::path> tensorboard_dir = std::nullopt);

  // Appends one line and flushes it. InputError when the write fails (disk full).
  void write(const nlohmann::json& line);

  // A line's numbers as TensorBoard tags (the rule above), "step" left out.
  static std::vector<std::pair<std::string, float>> scalars_of(const nlohmann::json& line);

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace fpokit::core
