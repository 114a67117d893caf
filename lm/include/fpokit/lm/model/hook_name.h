#pragma once
// Residual-stream hook points, named as in TransformerLens:
//   blocks.L.hook_resid_pre   the input of block L           == HF hidden_states[L]
//   blocks.L.hook_resid_mid   after block L's attention residual add, before its MLP
//                             (absent for parallel-residual blocks: GPT-NeoX/Pythia)
//   blocks.L.hook_resid_post  the output of block L          == HF hidden_states[L+1] for
//                             L < n_layers-1; for the last block HF's hidden_states[n_layers]
//                             has the final norm applied, hook_resid_post does not.
#include <cstdint>
#include <string>
#include <string_view>

namespace fpokit::lm {

enum class HookPoint { ResidPre, ResidMid, ResidPost };

struct HookName {
  int64_t layer = 0;
  HookPoint point = HookPoint::ResidPost;

  // Throws InputError for anything but "blocks.<L>.hook_resid_{pre,mid,post}".
  static HookName parse(std::string_view text);
  std::string str() const;
  friend bool operator==(const HookName&, const HookName&) = default;
  friend auto operator<=>(const HookName&, const HookName&) = default;
};

}  // namespace fpokit::lm
