#include "fpokit/lm/model/hook_name.h"

#include <charconv>

#include "fpokit/core/errors.h"

namespace fpokit::lm {

namespace {
constexpr std::string_view kPrefix = "blocks.";
struct PointName {
  std::string_view suffix;
  HookPoint point;
};
constexpr PointName kPoints[] = {
    {"hook_resid_pre", HookPoint::ResidPre},
    {"hook_resid_mid", HookPoint::ResidMid},
    {"hook_resid_post", HookPoint::ResidPost},
};
}  // namespace

HookName HookName::parse(std::string_view text) {
  const auto bad = [&] {
    return InputError("hook '" + std::string(text) +
                      "': expected blocks.<layer>.hook_resid_pre, blocks.<layer>.hook_resid_mid or "
                      "blocks.<layer>.hook_resid_post");
  };
  if (text.substr(0, kPrefix.size()) != kPrefix) throw bad();
  std::string_view rest = text.substr(kPrefix.size());
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0) throw bad();
  int64_t layer = -1;
  const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + dot, layer);
  if (ec != std::errc() || ptr != rest.data() + dot || layer < 0) throw bad();
  const std::string_view suffix = rest.substr(dot + 1);
  for (const auto& p : kPoints) {
    if (suffix == p.suffix) return HookName{layer, p.point};
  }
  throw bad();
}

std::string HookName::str() const {
  for (const auto& p : kPoints) {
    if (p.point == point) return "blocks." + std::to_string(layer) + "." + std::string(p.suffix);
  }
  return "blocks." + std::to_string(layer) + ".?";
}

}  // namespace fpokit::lm
