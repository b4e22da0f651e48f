// How long native-torch lives: no longer than the process that started it.
#pragma once

#include <sys/types.h>

namespace ntorch {

// Asks the kernel for SIGKILL when the parent dies, so a process that is
// busy in a forward() (and so not reading stdin, where EOF would end it)
// cannot outlive a SIGKILLed daemon. `parent` is getppid() as main() first
// saw it: if the parent is another process by the time the request is in
// place, the parent died before it and the process exits with
// kExitParentGone.
void die_with_parent(pid_t parent);

}  // namespace ntorch
