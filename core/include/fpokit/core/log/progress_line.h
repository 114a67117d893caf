#pragma once
// A one-line progress display for long work: "label 1.2M/10.0M tok 35.1k tok/s ETA 4m12s |
// metrics". On a terminal the line is redrawn in place at most every 0.2 s on updates, and at least
// every second by a ticker thread (rate and ETA move on even while one step takes minutes, and
// whatever the logging cadence); when stderr is a file
// or pipe (or a log sink is set), a full line goes to log::info every `log_interval` seconds
// instead, so logs stay readable. Nothing is drawn below log level Info (--quiet). Log messages
// printed meanwhile clear the drawn line first (log.h).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace fpokit::core {

class ProgressLine {
 public:
  // `start`: units already done before this run (a resumed run), so the rate counts only new work.
  ProgressLine(std::string label, int64_t total, std::string unit = "tok", double log_interval_seconds = 30,
               int64_t start = 0);
  ~ProgressLine();  // finishes the line

  // `done` units so far; `metrics` is appended after the rate and ETA.
  void update(int64_t done, const std::string& metrics = "", bool force = false);
  void finish();
  // A line of its own (an evaluation result) that does not break the progress line: log::info,
  // which clears the drawn line on a terminal; the line is redrawn at the next update.
  void message(const std::string& text);

  // 1234567 -> "1.23M"; 950 -> "950".
  static std::string human(double value);
  // 253 s -> "4m13s".
  static std::string duration(double seconds);

 private:
  void clear_drawn_line();
  // Draws the line for the last update (mutex_ held).
  void draw(std::chrono::steady_clock::time_point now);
  std::string render(std::chrono::steady_clock::time_point now) const;
  void tick();

  std::string label_, unit_;
  int64_t total_;
  int64_t start_done_ = 0;
  double log_interval_;
  bool tty_;
  bool finished_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t done_ = 0;      // the last update's count, redrawn by the ticker
  std::string metrics_;   // and its metrics
  bool updated_ = false;  // nothing is drawn before the first update
  std::mutex mutex_;
  std::condition_variable stop_ticker_;
  std::thread ticker_;  // terminals only
};

}  // namespace fpokit::core
