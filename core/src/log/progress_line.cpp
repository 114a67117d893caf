#include "fpokit/core/log/progress_line.h"

#include <cmath>
#include <cstdio>

#include "fpokit/core/log/log.h"

namespace fpokit::core {

ProgressLine::ProgressLine(std::string label, int64_t total, std::string unit, double log_interval_seconds,
                           int64_t start)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      start_done_(start),
      log_interval_(log_interval_seconds),
      tty_(log::draws_on_terminal()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  // A message printed while the line is drawn clears it first; the next update redraws it.
  if (tty_) {
    log::set_progress_clearer([this] { clear_drawn_line(); });
    ticker_ = std::thread([this] { tick(); });
  }
}

ProgressLine::~ProgressLine() {
  finish();
  if (tty_) log::set_progress_clearer(nullptr);
}

void ProgressLine::tick() {
  std::unique_lock lock(mutex_);
  while (!finished_) {
    stop_ticker_.wait_for(lock, std::chrono::seconds(1));
    const auto now = std::chrono::steady_clock::now();
    if (!finished_ && updated_ && now - last_draw_ >= std::chrono::seconds(1) && log::enabled(log::Level::Info))
      draw(now);
  }
}

void ProgressLine::clear_drawn_line() {
  std::lock_guard lock(mutex_);
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

std::string ProgressLine::human(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (a >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (a >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string ProgressLine::duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(t / 3600),
                  static_cast<long long>(t % 3600 / 60));
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
  else std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(t));
  return buf;
}

void ProgressLine::update(int64_t done, const std::string& metrics, bool force) {
  if (!log::enabled(log::Level::Info)) return;  // --quiet
  std::unique_lock lock(mutex_);
  done_ = done;
  if (!metrics.empty()) metrics_ = metrics;
  updated_ = true;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  if (!force && since_draw < (tty_ ? 0.2 : log_interval_)) return;
  if (tty_) return draw(now);
  last_draw_ = now;
  const std::string line = render(now);
  lock.unlock();
  log::info(line);
}

std::string ProgressLine::render(std::chrono::steady_clock::time_point now) const {
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_ - start_done_) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : NAN;
  std::string line = label_ + " " + human(static_cast<double>(done_)) + "/" + human(static_cast<double>(total_)) + " " +
                     unit_ + " " + human(rate) + " " + unit_ + "/s ETA " + duration(eta);
  if (!metrics_.empty()) line += " | " + metrics_;
  return line;
}

void ProgressLine::draw(std::chrono::steady_clock::time_point now) {
  last_draw_ = now;
  std::fprintf(stderr, "\r\033[K%s", render(now).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::message(const std::string& text) { log::info(text); }

void ProgressLine::finish() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    if (tty_ && drawn_) {
      std::fprintf(stderr, "\n");
      std::fflush(stderr);
      drawn_ = false;
    }
  }
  stop_ticker_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

}  // namespace fpokit::core
