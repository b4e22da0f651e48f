#include "feeder/lifetime.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <string>

#include "feeder/io.hpp"
#include "feeder/log.hpp"

namespace feeder {

void begin_lifetime() {
  // Seen before the request, so that a parent dying in between is noticed.
  const pid_t parent = ::getppid();
  // SIGKILL rather than SIGTERM: the daemon that would read anything the
  // process still had to say is gone, and ignoring SIGTERM must not keep it.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    log_error(std::string("prctl(PR_SET_PDEATHSIG) failed: ") + std::strerror(errno));
    exit_with(kExitInternal);
  }
  // Compared with the parent seen at start, not with 1: a daemon may itself
  // be pid 1 (in a container), and a reaper need not be pid 1.
  if (::getppid() != parent) {
    log_error("the parent process (pid " + std::to_string(parent) + ") exited before this one started");
    exit_with(kExitParentGone);
  }
  std::signal(SIGPIPE, SIG_IGN);
}

void exit_on_exception(const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    exit_with(kExitInternal);
  }
}

}  // namespace feeder
