#include "fpokit/core/train/metrics_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
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

// TensorBoard scalars are float32: beyond its range a value is ±inf (a plain cast would be
// undefined behaviour).
float to_float(double v) {
  if (std::isnan(v)) return std::numeric_limits<float>::quiet_NaN();
  if (v > std::numeric_limits<float>::max()) return std::numeric_limits<float>::infinity();
  if (v < -std::numeric_limits<float>::max()) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(v);
}

void add_scalars(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, float>>& out) {
  for (const auto& [key, value] : j.items()) {
    const std::string tag = prefix + key;
    if (value.is_number()) {
      if (prefix.empty() && key == "step") continue;
      out.emplace_back(tag, to_float(value.get<double>()));
    } else if (value.is_object()) {
      add_scalars(value, tag + "/", out);
    } else if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        const auto& e = value[i];
        if (e.is_number()) {
          out.emplace_back(tag + "/" + std::to_string(i), to_float(e.get<double>()));
        } else if (e.is_object()) {
          // Per-SAE entries are named by their SAE, so a tag means the same SAE in every line.
          std::string name = std::to_string(i);
          for (const char* field : {"sae", "name", "label"})
            if (e.contains(field) && e[field].is_string()) {
              name = e[field].get<std::string>();
              break;
            }
          add_scalars(e, tag + "/" + name + "/", out);
        }
      }
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, float>> MetricsLog::scalars_of(const nlohmann::json& line) {
  std::vector<std::pair<std::string, float>> out;
  if (line.is_object()) add_scalars(line, "", out);
  return out;
}

MetricsLog::MetricsLog(fs::path path, std::optional<int64_t> resumed_step, std::optional<fs::path> tensorboard_dir)
    : path_(std::move(path)) {
  if (resumed_step && fs::exists(path_)) write_text_file_atomically(path_, lines_up_to(path_, *resumed_step));
  out_.open(path_, std::ios::binary | (resumed_step ? std::ios::app : std::ios::trunc));
  if (!out_)
    throw InputError(path_.string() + ": cannot open for writing: " + (errno != 0 ? std::strerror(errno) : "failed"));
  if (tensorboard_dir) {
    if (!resumed_step) remove_tree(*tensorboard_dir);  // an earlier run's events are not this run's
    tensorboard_ = std::make_unique<TensorBoardWriter>(*tensorboard_dir, resumed_step);
  }
}

void MetricsLog::write(const nlohmann::json& line) {
  errno = 0;
  out_ << line.dump() << '\n';
  out_.flush();
  // The stream keeps no reason; write(2)'s errno is still there (ENOSPC: "No space left on device").
  if (!out_)
    throw InputError(path_.string() + ": cannot write: " + (errno != 0 ? std::strerror(errno) : "write failed"));
  if (tensorboard_ && line.is_object() && line.contains("step") && line["step"].is_number_integer())
    tensorboard_->add_scalars(line["step"].get<int64_t>(), scalars_of(line));
}

}  // namespace fpokit::core
