#include "lifetime.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "io.hpp"
#include "log.hpp"

namespace stub {

void die_with_parent(pid_t parent) {
  // SIGKILL rather than SIGTERM: the daemon that would read anything the
  // stub still had to say is gone, and --ignore-sigterm must not keep it.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    log_error(std::string("prctl(PR_SET_PDEATHSIG) failed: ") + std::strerror(errno));
    exit_with(kExitInternal);
  }
  // Comparing with the parent seen at start, not with 1: a daemon may itself
  // be pid 1 (in a container), and a reaper need not be pid 1.
  if (::getppid() != parent) {
    log_error("the parent process (pid " + std::to_string(parent) + ") exited before the stub started");
    exit_with(kExitParentGone);
  }
}

void spawn_helper() {
  pid_t pid = ::fork();
  if (pid < 0) {
    log_error(std::string("fork for --spawn-helper failed: ") + std::strerror(errno));
    exit_with(kExitInternal);
  }
  if (pid > 0) {
    log_info("helper started: pid " + std::to_string(pid));
    return;
  }
  int null_fd = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null_fd, fd);
  if (null_fd > 2) ::close(null_fd);
  sleep_forever();
}

}  // namespace stub
