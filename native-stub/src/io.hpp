// Raw fd I/O: the stub talks to pipes with read(2)/write(2) directly so that
// nothing is buffered behind the daemon's back and block sizes are exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace stub {

// Exit codes are part of the protocol the daemon tests against.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitShortStream = 3,
  kExitBadMsgpack = 4,
  kExitStdoutFailed = 5,
  kExitInternal = 6,
  kExitParentGone = 7,
  kExitBadModel = 8,  // native-torch: the bytes are not a TorchScript module it can serve
};

// read(2) on fd 0, retrying EINTR. Returns bytes read, 0 on EOF; on a read
// error logs it and exits with kExitInternal.
size_t read_stdin(void* buf, size_t max);

// Reads exactly `len` bytes unless EOF comes first; returns bytes read.
size_t read_stdin_exact(void* buf, size_t len);

// Writes all bytes to fd 1. A failed write means the daemon is gone or
// broken, so the stub logs and exits with kExitStdoutFailed.
void write_stdout(const void* data, size_t len);

// Logs the exit code (the daemon correlates it with the last lines) and
// leaves immediately without running static destructors.
[[noreturn]] void exit_with(int code);

// Blocks forever while leaving default signal dispositions untouched, so
// SIGTERM/SIGKILL still end the process.
[[noreturn]] void sleep_forever();

void sleep_seconds(double seconds);

}  // namespace stub
