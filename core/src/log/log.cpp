#include "fpokit/core/log/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "fpokit/core/errors.h"

namespace fpokit::core::log {

namespace {

std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mutex;  // guards the sink and the clearer, and keeps lines whole across threads
Sink g_sink;
std::function<void()> g_clear_progress;

void write_to_stderr(Level level, std::string_view message) {
  const char* prefix = level == Level::Error ? "fpokit: error: " : level == Level::Warning ? "fpokit: warning: " : "fpokit: ";
  std::fprintf(stderr, "%s%.*s\n", prefix, static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(g_level.load()); }
bool enabled(Level l) { return static_cast<int>(l) <= g_level.load(); }

Level parse_level(std::string_view name) {
  if (name == "error") return Level::Error;
  if (name == "warning") return Level::Warning;
  if (name == "info") return Level::Info;
  if (name == "debug") return Level::Debug;
  throw ConfigError("unknown log level '" + std::string(name) + "'; use error, warning, info or debug");
}

void set_sink(Sink sink) {
  std::lock_guard lock(g_mutex);
  g_sink = std::move(sink);
}

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  std::lock_guard lock(g_mutex);
  if (g_sink) {
    g_sink(level, message);
    return;
  }
  if (g_clear_progress) g_clear_progress();
  write_to_stderr(level, message);
}

bool draws_on_terminal() {
  std::lock_guard lock(g_mutex);
  return !g_sink && ::isatty(STDERR_FILENO) == 1;
}

void set_progress_clearer(std::function<void()> clear) {
  std::lock_guard lock(g_mutex);
  g_clear_progress = std::move(clear);
}

}  // namespace fpokit::core::log
