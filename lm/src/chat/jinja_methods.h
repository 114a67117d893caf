#pragma once
// The Python methods a chat template may call on its values: str methods (strip, split, startswith,
// ...), dict methods (get, items, keys, values) and loop.cycle. Lists expose none: HF's immutable
// sandbox forbids append/pop and friends.
#include <optional>
#include <string_view>

#include "jinja_value.h"

namespace fpokit::lm::jinja {

// `object.name` as a bound method, or nullopt when the object has no such method.
std::optional<Value> bind_method(const Value& object, std::string_view name);

}  // namespace fpokit::lm::jinja
