#include "feeder/model_stream.hpp"

#include <algorithm>
#include <chrono>
#include <new>
#include <vector>

#include "feeder/io.hpp"
#include "feeder/log.hpp"
#include "feeder/sha256.hpp"

namespace feeder {
namespace {

using Clock = std::chrono::steady_clock;

const uint64_t kProgressStep = uint64_t{256} << 20;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void log_progress(uint64_t received, uint64_t size, uint64_t& next_progress) {
  if (received < next_progress) return;
  while (next_progress <= received) next_progress += kProgressStep;
  log_info("received " + std::to_string(received) + " of " + std::to_string(size) + " bytes (" +
           std::to_string(received * 100 / size) + "%)");
}

std::unique_ptr<uint8_t[]> allocate(uint64_t size) {
  // new[] without () leaves pages untouched, so a multi-GiB reservation
  // costs nothing until bytes actually arrive.
  uint8_t* p = size <= SIZE_MAX ? new (std::nothrow) uint8_t[size] : nullptr;
  if (p == nullptr) {
    log_error("cannot allocate " + std::to_string(size) + " bytes for the model");
    exit_with(kExitInternal);
  }
  return std::unique_ptr<uint8_t[]>(p);
}

[[noreturn]] void fail_short(const char* what, uint64_t received, uint64_t size) {
  log_error(std::string(what) + " ended early: received " + std::to_string(received) + " of " +
            std::to_string(size) + " bytes");
  exit_with(kExitShortStream);
}

uint64_t next_read_len(const ReadPlan& plan, uint64_t received, uint64_t size) {
  uint64_t len = std::min(plan.block, size - received);
  uint64_t limit = plan.read_limit ? plan.read_limit(received) : 0;
  return limit > 0 ? std::min(len, limit) : len;
}

}  // namespace

uint64_t read_size_header(HeaderKind kind) {
  size_t width = kind == HeaderKind::U64 ? 8 : 4;
  unsigned char buf[8];
  size_t got = read_stdin_exact(buf, width);
  if (got < width) fail_short("size header", got, width);
  uint64_t size = 0;
  for (size_t i = 0; i < width; ++i) size = (size << 8) | buf[i];
  return size;
}

ModelBytes read_model(uint64_t size, const ReadPlan& plan) {
  ModelBytes m;
  m.size = size;
  if (plan.keep && size > 0) m.data = allocate(size);
  std::vector<uint8_t> scratch(plan.keep ? 0 : static_cast<size_t>(std::min(plan.block, size)));
  Sha256 hash;
  uint64_t received = 0;
  uint64_t next_progress = kProgressStep;
  const auto start = Clock::now();
  while (received < size) {
    if (plan.before_read) plan.before_read(received);
    size_t want = static_cast<size_t>(next_read_len(plan, received, size));
    uint8_t* dst = plan.keep ? m.data.get() + received : scratch.data();
    size_t n = read_stdin(dst, want);
    if (n == 0) fail_short("model stream", received, size);
    hash.update(dst, n);
    received += n;
    log_progress(received, size, next_progress);
    if (plan.after_read) plan.after_read(received, seconds_since(start));
  }
  if (plan.before_read) plan.before_read(received);
  m.ms = seconds_since(start) * 1000.0;
  m.sha256 = hash.hex_digest();
  return m;
}

}  // namespace feeder
