#pragma once
// A one-line progress display on stderr for long work: "label 1.2M/10.0M tok 35.1k tok/s
// ETA 4m12s | metrics". On a terminal the line is redrawn in place at most every 0.2 s; when
// stderr is a file or pipe, a full line is written every `log_interval` seconds instead, so logs
// stay readable.
#include <chrono>
#include <cstdint>
#include <string>

namespace fpokit::lm {

class ProgressLine {
 public:
  // `start`: units already done before this run (a resumed run), so the rate counts only new work.
  ProgressLine(std::string label, int64_t total, std::string unit = "tok", double log_interval_seconds = 30,
               int64_t start = 0);
  ~ProgressLine();  // finishes the line

  // `done` units so far; `metrics` is appended after the rate and ETA.
  void update(int64_t done, const std::string& metrics = "", bool force = false);
  void finish();
  // A line of its own (an evaluation result, a warning) that does not break the progress line:
  // on a terminal the progress line is cleared, the message printed, and the line redrawn next update.
  void message(const std::string& text);

  // 1234567 -> "1.23M"; 950 -> "950".
  static std::string human(double value);
  // 253 s -> "4m13s".
  static std::string duration(double seconds);

 private:
  std::string label_, unit_;
  int64_t total_;
  int64_t start_done_ = 0;
  double log_interval_;
  bool tty_;
  bool finished_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace fpokit::lm
