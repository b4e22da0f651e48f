#include "model.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>
#include <vector>

#include "io.hpp"
#include "log.hpp"
#include "sha256.hpp"

namespace stub {
namespace {

using Clock = std::chrono::steady_clock;

const uint64_t kProgressStep = uint64_t{256} << 20;
const uint64_t kMaxThrottledBlock = 64 * 1024;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Aborts or exits once a byte threshold is reached. Reads are capped at the
// nearest threshold, so the process has consumed exactly N bytes when it dies.
void fire_faults(const Options& opts, uint64_t received) {
  if (opts.crash_after_bytes && received >= *opts.crash_after_bytes) {
    log_error("simulated crash after " + std::to_string(*opts.crash_after_bytes) + " bytes");
    std::abort();
  }
  if (opts.exit_after_bytes && received >= *opts.exit_after_bytes) {
    int code = opts.exit_code.value_or(1);
    log_error("simulated exit with code " + std::to_string(code));
    exit_with(code);
  }
}

uint64_t block_size(const Options& opts) {
  if (!opts.read_rate) return opts.read_block;
  // Small blocks under throttling so the pipe drains smoothly and the
  // writer sees steady back-pressure instead of bursts.
  uint64_t per_tick = std::max<uint64_t>(1, *opts.read_rate / 10);
  return std::min({opts.read_block, kMaxThrottledBlock, per_tick});
}

uint64_t next_read_len(const Options& opts, uint64_t block, uint64_t received, uint64_t size) {
  uint64_t len = std::min(block, size - received);
  for (const auto& limit : {opts.crash_after_bytes, opts.exit_after_bytes}) {
    if (limit && *limit > received) len = std::min(len, *limit - received);
  }
  return len;
}

// Sleeps until `received` bytes are no faster than the configured rate.
void pace(const Options& opts, uint64_t received, Clock::time_point start) {
  if (!opts.read_rate) return;
  double due = static_cast<double>(received) / static_cast<double>(*opts.read_rate);
  sleep_seconds(due - seconds_since(start));
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
    log_error("cannot allocate " + std::to_string(size) + " bytes for the model (use --discard)");
    exit_with(kExitInternal);
  }
  return std::unique_ptr<uint8_t[]>(p);
}

[[noreturn]] void fail_short(uint64_t received, uint64_t size) {
  log_error("model stream ended early: received " + std::to_string(received) + " of " +
            std::to_string(size) + " bytes");
  exit_with(kExitShortStream);
}

}  // namespace

uint64_t read_size_header(HeaderKind kind) {
  size_t width = kind == HeaderKind::U64 ? 8 : 4;
  unsigned char buf[8];
  size_t got = read_stdin_exact(buf, width);
  if (got < width) {
    log_error("size header ended early: received " + std::to_string(got) + " of " +
              std::to_string(width) + " bytes");
    exit_with(kExitShortStream);
  }
  uint64_t size = 0;
  for (size_t i = 0; i < width; ++i) size = (size << 8) | buf[i];
  return size;
}

Model read_model(uint64_t size, const Options& opts) {
  Model m;
  m.size = size;
  m.discarded = opts.discard;
  if (!opts.discard && size > 0) m.bytes = allocate(size);
  const uint64_t block = block_size(opts);
  std::vector<uint8_t> scratch(opts.discard ? static_cast<size_t>(std::min(block, size)) : 0);
  Sha256 hash;
  uint64_t next_progress = kProgressStep;
  const auto start = Clock::now();
  while (m.received < size) {
    fire_faults(opts, m.received);
    size_t want = static_cast<size_t>(next_read_len(opts, block, m.received, size));
    uint8_t* dst = opts.discard ? scratch.data() : m.bytes.get() + m.received;
    size_t n = read_stdin(dst, want);
    if (n == 0) fail_short(m.received, size);
    hash.update(dst, n);
    m.received += n;
    log_progress(m.received, size, next_progress);
    pace(opts, m.received, start);
  }
  fire_faults(opts, m.received);
  m.ms = seconds_since(start) * 1000.0;
  m.sha256 = hash.hex_digest();
  return m;
}

}  // namespace stub
