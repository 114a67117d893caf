#pragma once

#include <optional>

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace fpokit::core {

// The autocast state of one device type: whether it is on and the dtype it casts to.
struct AutocastState {
  bool enabled = false;
  c10::ScalarType dtype = c10::ScalarType::Float;

  // What autocast on `device` is now (to replay it later, e.g. in a recomputing backward).
  static AutocastState current(c10::DeviceType device);
};

// Sets autocast on one device type for its lifetime and restores the previous state on exit.
// Leaving autocast (on inside the scope, off after it) drops autocast's cache of cast weights:
// the weights change at every optimizer step, and a stale bf16 copy would be used otherwise.
// Used by every mixed-precision forward: the preference trainer's, the SAE trainer's, and the
// chunked log-prob head's recomputation in the backward (lm/model/chunked_token_logps.h).
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, AutocastState state);
  // On with `dtype` when given; without one the scope changes nothing (a float32 run).
  AutocastScope(c10::DeviceType device, std::optional<c10::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool active_ = false;
  AutocastState previous_;
};

}  // namespace fpokit::core
