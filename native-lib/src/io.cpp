#include "feeder/io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "feeder/log.hpp"
#include "feeder/stderr_capture.hpp"

namespace feeder {

size_t read_stdin(void* buf, size_t max) {
  for (;;) {
    ssize_t n = ::read(0, buf, max);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    log_error(std::string("read from stdin failed: ") + std::strerror(errno));
    exit_with(kExitInternal);
  }
}

size_t read_stdin_exact(void* buf, size_t len) {
  auto* p = static_cast<unsigned char*>(buf);
  size_t got = 0;
  while (got < len) {
    size_t n = read_stdin(p + got, len - got);
    if (n == 0) break;
    got += n;
  }
  return got;
}

void write_stdout(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (len > 0) {
    ssize_t n = ::write(1, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const char* why = n < 0 ? std::strerror(errno) : "wrote 0 bytes";
      log_error(std::string("write to stdout failed: ") + why);
      exit_with(kExitStdoutFailed);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void exit_with(int code) {
  release_stderr();
  Level level = code == kExitOk ? Level::Info : Level::Error;
  log(level, "exiting with code " + std::to_string(code));
  ::_exit(code);
}

void sleep_forever() {
  for (;;) ::pause();
}

void sleep_seconds(double seconds) {
  if (seconds <= 0) return;
  timespec ts;
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
  // nanosleep reports the remainder when interrupted; keep sleeping it.
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace feeder
