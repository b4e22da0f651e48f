#include "feeder/stderr_capture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "feeder/log.hpp"

namespace feeder {

struct StderrCapture {
  int log_fd = 2;    // the original stderr
  int read_fd = -1;  // the pipe's read end; fd 2 is its write end
  std::atomic<bool> released{false};
  std::mutex mutex;
  std::condition_variable drained_cv;
  bool drained = false;
};

namespace {

StderrCapture* g_capture = nullptr;

// A line longer than this is re-emitted in pieces rather than held without end.
const size_t kMaxLine = 16 * 1024;
const auto kDrainWait = std::chrono::milliseconds(500);

// c10's and glog's prefix, "[W1207 09:37:51.631 file.cpp:111] ...": its letter is the level.
// Anything else a library writes is a warning: it was not meant for a log at all.
Level level_of(const std::string& line) {
  size_t at = line.size() > 2 && line[0] == '[' ? 1 : 0;
  if (line.size() < at + 2 || !std::isdigit(static_cast<unsigned char>(line[at + 1]))) return Level::Warn;
  switch (line[at]) {
    case 'I': return Level::Info;
    case 'E':
    case 'F': return Level::Error;
    default: return Level::Warn;
  }
}

void emit(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.find_first_not_of(" \t") == std::string::npos) return;
  log(level_of(line), line);
}

void read_lines(StderrCapture* capture) {
  std::string pending;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(capture->read_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      emit(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
    if (pending.size() >= kMaxLine) {
      emit(pending);
      pending.clear();
    }
  }
  emit(std::move(pending));
  std::lock_guard<std::mutex> lock(capture->mutex);
  capture->drained = true;
  capture->drained_cv.notify_all();
}

// The pipe, with fd 2 its write end; false (fds unchanged) when any step fails.
bool redirect_fd2(StderrCapture* capture) {
  // A closed fd 2 would be handed out again by pipe2 itself; nothing reads it anyway.
  if (::fcntl(2, F_GETFD) < 0) return false;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  const int saved = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (saved < 0 || ::dup2(fds[1], 2) < 0) {
    const int error = errno;
    if (saved >= 0) ::close(saved);
    ::close(fds[0]);
    ::close(fds[1]);
    errno = error;
    return false;
  }
  // fd 2 must be the pipe's only write end, or the reader would never see EOF at exit.
  ::close(fds[1]);
  capture->log_fd = saved;
  capture->read_fd = fds[0];
  return true;
}

}  // namespace

StderrCapture* capture_stderr() {
  auto* capture = new StderrCapture();  // lives until the process exits
  if (!redirect_fd2(capture)) {
    log_warn(std::string("cannot capture stderr; a library's own lines stay as it writes them: ") +
             std::strerror(errno));
    delete capture;
    return nullptr;
  }
  g_capture = capture;
  std::thread(read_lines, capture).detach();
  return capture;
}

void adopt_stderr_capture(StderrCapture* capture) { g_capture = capture; }

int log_fd() { return g_capture != nullptr ? g_capture->log_fd : 2; }

void release_stderr() {
  StderrCapture* capture = g_capture;
  if (capture == nullptr || capture->released.exchange(true)) return;
  ::dup2(capture->log_fd, 2);  // closes the pipe's write end: the reader reads the rest, then EOF
  std::unique_lock<std::mutex> lock(capture->mutex);
  capture->drained_cv.wait_for(lock, kDrainWait, [capture] { return capture->drained; });
}

}  // namespace feeder
