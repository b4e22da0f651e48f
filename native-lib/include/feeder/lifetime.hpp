// How long a native process lives: no longer than the process that started it,
// and not past an exception it did not expect.
#pragma once

#include <functional>

namespace feeder {

// Call first thing in main(). Asks the kernel for SIGKILL when the parent dies,
// so a process that has stopped reading stdin (and so would never see EOF), or
// is busy in a forward(), cannot outlive a SIGKILLed daemon. If the parent is
// already another process once the request is in place, the parent died before
// it, no signal will come, and the process exits kExitParentGone. Also ignores
// SIGPIPE, so that a vanished reader is a logged write error (kExitStdoutFailed)
// rather than a silent death by signal.
void begin_lifetime();

// Runs `body`; an exception escaping it is logged as an internal error and the
// process exits kExitInternal.
void exit_on_exception(const std::function<void()>& body);

}  // namespace feeder
