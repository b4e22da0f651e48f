#include "model.hpp"

#include <algorithm>
#include <cstdlib>

#include "feeder/io.hpp"
#include "feeder/log.hpp"

namespace stub {
namespace {

const uint64_t kMaxThrottledBlock = 64 * 1024;

// Aborts or exits once a byte threshold is reached. Reads are capped at the
// nearest threshold, so the process has consumed exactly N bytes when it dies.
void fire_faults(const Options& opts, uint64_t received) {
  if (opts.crash_after_bytes && received >= *opts.crash_after_bytes) {
    feeder::log_error("simulated crash after " + std::to_string(*opts.crash_after_bytes) + " bytes");
    std::abort();
  }
  if (opts.exit_after_bytes && received >= *opts.exit_after_bytes) {
    int code = opts.exit_code.value_or(1);
    feeder::log_error("simulated exit with code " + std::to_string(code));
    feeder::exit_with(code);
  }
}

uint64_t block_size(const Options& opts) {
  if (!opts.read_rate) return opts.read_block;
  // Small blocks under throttling so the pipe drains smoothly and the
  // writer sees steady back-pressure instead of bursts.
  uint64_t per_tick = std::max<uint64_t>(1, *opts.read_rate / 10);
  return std::min({opts.read_block, kMaxThrottledBlock, per_tick});
}

// The bytes left before the nearest fault threshold, or 0 when none is ahead.
uint64_t bytes_to_fault(const Options& opts, uint64_t received) {
  uint64_t len = 0;
  for (const auto& limit : {opts.crash_after_bytes, opts.exit_after_bytes}) {
    if (limit && *limit > received && (len == 0 || *limit - received < len)) len = *limit - received;
  }
  return len;
}

// Sleeps until `received` bytes are no faster than the configured rate.
void pace(const Options& opts, uint64_t received, double seconds) {
  if (!opts.read_rate) return;
  double due = static_cast<double>(received) / static_cast<double>(*opts.read_rate);
  feeder::sleep_seconds(due - seconds);
}

}  // namespace

feeder::ModelBytes read_model(uint64_t size, const Options& opts) {
  feeder::ReadPlan plan;
  plan.block = block_size(opts);
  plan.keep = !opts.discard;
  plan.before_read = [&](uint64_t received) { fire_faults(opts, received); };
  plan.read_limit = [&](uint64_t received) { return bytes_to_fault(opts, received); };
  plan.after_read = [&](uint64_t received, double seconds) { pace(opts, received, seconds); };
  return feeder::read_model(size, plan);
}

}  // namespace stub
