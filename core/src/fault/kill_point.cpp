#include "fpokit/core/fault/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace fpokit::core {

namespace {

struct KillTarget {
  std::string point;  // empty: no kill point armed
  long occurrence = 1;
};

KillTarget read_kill_target() {
  KillTarget t;
  const char* value = std::getenv("FPOKIT_KILL_AT");
  if (value == nullptr) return t;
  t.point = value;
  if (const auto at = t.point.rfind('@'); at != std::string::npos) {
    t.occurrence = std::strtol(t.point.c_str() + at + 1, nullptr, 10);
    t.point.resize(at);
  }
  return t;
}

}  // namespace

void kill_point(std::string_view point) {
  static const KillTarget target = read_kill_target();
  if (target.point.empty() || point != target.point) return;
  static std::atomic<long> reached{0};
  if (++reached != target.occurrence) return;
  ::kill(::getpid(), SIGKILL);
  ::pause();  // SIGKILL cannot be caught: never returns
}

}  // namespace fpokit::core
