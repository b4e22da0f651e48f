// How long the stub lives, and what it takes along: (with --spawn-helper) a
// child of its own that only its process group reaches, so a caller can
// prove it ends the whole group.
#pragma once

namespace stub {

// Forks a child that closes its stdio (it holds none of the caller's pipes)
// and sleeps until a signal ends it. It inherits the SIGTERM disposition but
// not the parent-death signal (fork clears it), so only a signal to the
// process group, or to its pid, ends it. Logs its pid.
void spawn_helper();

}  // namespace stub
