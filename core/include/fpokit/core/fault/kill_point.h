#pragma once
// Named points in fpokit's save protocols where a test can make the process die as `kill -9`
// would, to prove that a run killed at that instant can be resumed (docs/reliability.md, "Kill
// points"). Set FPOKIT_KILL_AT=NAME to SIGKILL the process the first time it reaches NAME, or
// NAME@N the N-th time. Unset (every user run), a kill point is one branch on a cached value.
//
// The points (grep for kill_point(" to find each):
//   checkpoint-written      a checkpoint's temporary folder is written, not yet synced or renamed
//   checkpoint-renamed      the new checkpoint is in place, the older ones not yet retired
//   checkpoint-retiring     an old checkpoint is renamed to a temporary name, not yet deleted
//   file-written            an atomically written file is complete under its temporary name
//   folder-written          an atomically written folder is complete under its temporary name
//   outputs-written         a training run's final outputs are written, its checkpoints not yet removed
//   activation-chunk        an activation cache has written one more chunk of rows
//   drift-snapshot-written  a training run's drift timeline has one more snapshot, its checkpoint not yet
#include <string_view>

namespace fpokit::core {

// SIGKILLs this process when FPOKIT_KILL_AT names `point` (and this is the N-th time it is reached).
void kill_point(std::string_view point);

}  // namespace fpokit::core
