// How long the stub lives: no longer than the process that started it, and
// (with --spawn-helper) with a child of its own that only its process group
// reaches, so a caller can prove it ends the whole group.
#pragma once

#include <sys/types.h>

namespace stub {

// Asks the kernel for SIGKILL when the parent dies, so a stub that has
// stopped reading stdin (and so would never see EOF) cannot outlive a
// SIGKILLed daemon. `parent` is getppid() as main() first saw it: if the
// parent is another process by the time the request is in place, the parent
// died before it, no signal will come, and the stub exits with
// kExitParentGone.
void die_with_parent(pid_t parent);

// Forks a child that closes its stdio (it holds none of the caller's pipes)
// and sleeps until a signal ends it. It inherits the SIGTERM disposition but
// not the parent-death signal (fork clears it): it stands for a helper that
// cannot be made to die with its parent, which only a signal to the process
// group (or to its pid) ends. Logs its pid.
void spawn_helper();

}  // namespace stub
