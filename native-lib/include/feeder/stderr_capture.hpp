// Keeps every stderr line JSON when a library the process links (libtorch) writes
// its own: fd 2 becomes a pipe that a thread reads and re-emits line by line as log
// lines, while the process's own log lines go straight to the original stderr.
#pragma once

namespace feeder {

// Shared by pointer, not through a global: a shared library that links its own copy
// of native-lib (native-torch's runtime) must write to, and drain, the same capture.
struct StderrCapture;

// Redirects fd 2 into the pipe and starts its reader; from then on log lines go to the
// original stderr. Call once, after the usage errors (plain text) are behind. Returns
// null, having logged why, when the pipe cannot be set up: stderr is then left as it is.
StderrCapture* capture_stderr();

// Makes this copy of native-lib log through, and drain at exit, a capture that another
// copy (the executable's) started.
void adopt_stderr_capture(StderrCapture* capture);

// The fd log lines are written to: the original stderr once captured, else 2.
int log_fd();

// Gives fd 2 back to the original stderr and waits (briefly) until every line written
// into the pipe has been re-emitted; exit_with calls it, so a library's last words come
// before the exit line. Does nothing without a capture, or the second time.
void release_stderr();

}  // namespace feeder
