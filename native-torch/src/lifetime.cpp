#include "lifetime.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "shared.hpp"

namespace ntorch {

void die_with_parent(pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    log_error(std::string("prctl(PR_SET_PDEATHSIG) failed: ") + std::strerror(errno));
    exit_with(kExitInternal);
  }
  // Compared with the parent seen at start, not with 1: a daemon may itself
  // be pid 1 (in a container), and a reaper need not be pid 1.
  if (::getppid() != parent) {
    log_error("the parent process (pid " + std::to_string(parent) +
              ") exited before native-torch started");
    exit_with(kExitParentGone);
  }
}

}  // namespace ntorch
