#include "fpokit/core/train/autocast_scope.h"

#include <ATen/autocast_mode.h>

namespace fpokit::core {

AutocastState AutocastState::current(c10::DeviceType device) {
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
}

AutocastScope::AutocastScope(c10::DeviceType device, AutocastState state)
    : device_(device), active_(true), previous_(AutocastState::current(device)) {
  at::autocast::set_autocast_dtype(device_, state.dtype);
  at::autocast::set_autocast_enabled(device_, state.enabled);
}

AutocastScope::AutocastScope(c10::DeviceType device, std::optional<c10::ScalarType> dtype) : device_(device) {
  if (!dtype) return;
  active_ = true;
  previous_ = AutocastState::current(device);
  at::autocast::set_autocast_dtype(device_, *dtype);
  at::autocast::set_autocast_enabled(device_, true);
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  const bool was_on = at::autocast::is_autocast_enabled(device_);
  at::autocast::set_autocast_enabled(device_, previous_.enabled);
  at::autocast::set_autocast_dtype(device_, previous_.dtype);
  if (was_on && !previous_.enabled) at::autocast::clear_cache();
}

}  // namespace fpokit::core
