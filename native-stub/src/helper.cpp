#include "helper.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "feeder/io.hpp"
#include "feeder/log.hpp"

namespace stub {

void spawn_helper() {
  pid_t pid = ::fork();
  if (pid < 0) {
    feeder::log_error(std::string("fork for --spawn-helper failed: ") + std::strerror(errno));
    feeder::exit_with(feeder::kExitInternal);
  }
  if (pid > 0) {
    feeder::log_info("helper started: pid " + std::to_string(pid));
    return;
  }
  int null_fd = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null_fd, fd);
  if (null_fd > 2) ::close(null_fd);
  feeder::sleep_forever();
}

}  // namespace stub
