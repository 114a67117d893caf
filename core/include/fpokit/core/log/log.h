#pragma once
// Logging for the libraries: one process-wide level and one sink, configured by the CLI
// (--quiet / --verbose) and by tests (capture). Libraries never write to std::cerr themselves;
// they call log::info / log::warning, and long work draws a ProgressLine (progress_line.h),
// which follows the same level and sink.
//
// Default sink: one line on stderr, "fpokit: <message>", with "warning: " / "error: " before
// warnings and errors. Results never go through here: they go to files or stdout.
#include <functional>
#include <string>
#include <string_view>

namespace fpokit::core::log {

enum class Level { Error = 0, Warning = 1, Info = 2, Debug = 3 };

// Messages above `level` are dropped. Default Info; --quiet sets Warning (progress lines and info
// messages off), --verbose Debug.
void set_level(Level level);
Level level();
bool enabled(Level level);
// "error" | "warning" | "info" | "debug" -> Level; ConfigError for anything else.
Level parse_level(std::string_view name);

// Receives every message that passes the level, without a trailing newline. An empty function
// restores the default stderr sink.
using Sink = std::function<void(Level level, std::string_view message)>;
void set_sink(Sink sink);

void write(Level level, std::string_view message);
inline void error(std::string_view message) { write(Level::Error, message); }
inline void warning(std::string_view message) { write(Level::Warning, message); }
inline void info(std::string_view message) { write(Level::Info, message); }
inline void debug(std::string_view message) { write(Level::Debug, message); }

// For ProgressLine: whether the default sink is in use and stderr is a terminal (then the line is
// redrawn in place), and the hook that clears a drawn line before a message is printed.
bool draws_on_terminal();
void set_progress_clearer(std::function<void()> clear);

// Sets the level for its lifetime and restores the previous one (tests, --quiet sections).
class ScopedLevel {
 public:
  explicit ScopedLevel(Level level) : previous_(log::level()) { set_level(level); }
  ~ScopedLevel() { set_level(previous_); }
  ScopedLevel(const ScopedLevel&) = delete;
  ScopedLevel& operator=(const ScopedLevel&) = delete;

 private:
  Level previous_;
};

}  // namespace fpokit::core::log
