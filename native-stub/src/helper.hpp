// The --spawn-helper fault: a child of the stub's own that only its process
// group reaches, so a caller can prove it ends the whole group.
#pragma once

namespace stub {

// Forks a child that closes its stdio (it holds none of the caller's pipes)
// and sleeps until a signal ends it. It inherits the SIGTERM disposition but
// not the parent-death signal (fork clears it): it stands for a helper that
// cannot be made to die with its parent, which only a signal to the process
// group (or to its pid) ends. Logs its pid.
void spawn_helper();

}  // namespace stub
