#include "feeder/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "feeder/stderr_capture.hpp"

namespace feeder {
namespace {

const char* level_name(Level level) {
  switch (level) {
    case Level::Debug: return "DEBUG";
    case Level::Info: return "INFO";
    case Level::Warn: return "WARN";
    case Level::Error: return "ERROR";
  }
  return "INFO";
}

long long unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// stderr problems must never kill the process: a test may close stderr on
// purpose, and losing a log line is better than changing the exit path.
void write_stderr(const std::string& line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(log_fd(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

std::string json_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void log(Level level, const std::string& message) {
  // Built in one string and written with one write(2) so its lines
  // never interleave mid-line with anything else on the same pipe.
  std::string line = "{\"level\":\"";
  line += level_name(level);
  line += "\",\"timestamp\":" + std::to_string(unix_ms());
  line += ",\"message\":\"" + json_escape(message) + "\"";
  line += ",\"pid\":" + std::to_string(::getpid()) + "}\n";
  write_stderr(line);
}

}  // namespace feeder
