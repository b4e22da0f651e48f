// Raw fd I/O: a native process talks to its pipes with read(2)/write(2) directly,
// so that nothing is buffered behind the daemon's back and block sizes are exact.
#pragma once

#include <cstddef>

#include "feeder/exit_codes.hpp"

namespace feeder {

// read(2) on fd 0, retrying EINTR. Returns bytes read, 0 on EOF; on a read
// error logs it and exits with kExitInternal.
size_t read_stdin(void* buf, size_t max);

// Reads exactly `len` bytes unless EOF comes first; returns bytes read.
size_t read_stdin_exact(void* buf, size_t len);

// Writes all bytes to fd 1. A failed write means the daemon is gone or
// broken, so the process logs and exits with kExitStdoutFailed.
void write_stdout(const void* data, size_t len);

// Logs the exit code (the daemon correlates it with the last lines) and
// leaves immediately without running static destructors.
[[noreturn]] void exit_with(int code);

// Blocks forever while leaving default signal dispositions untouched, so
// SIGTERM/SIGKILL still end the process.
[[noreturn]] void sleep_forever();

void sleep_seconds(double seconds);

}  // namespace feeder
