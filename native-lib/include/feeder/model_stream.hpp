// The model phase of stdin: the size header, then exactly `size` raw bytes,
// hashed as they arrive and never read past (request frames may follow in the
// same write).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "feeder/options.hpp"

namespace feeder {

struct ModelBytes {
  uint64_t size = 0;
  std::unique_ptr<uint8_t[]> data;  // null when size is 0 or the bytes were not kept
  std::string sha256;               // lowercase hex
  double ms = 0;                    // from the end of the size header to the last byte
};

// How the bytes are read. The defaults are a plain read; the stub bends them to
// fail, throttle or discard on purpose.
struct ReadPlan {
  uint64_t block = uint64_t{1} << 20;  // the most one read(2) takes
  bool keep = true;                    // false: hash and count the bytes only
  // Called with the count so far before each read and once after the last byte.
  std::function<void(uint64_t received)> before_read;
  // The most the next read may take given the count so far, or 0 for no limit.
  std::function<uint64_t(uint64_t received)> read_limit;
  // Called after each read with the count so far and the seconds since the first.
  std::function<void(uint64_t received, double seconds)> after_read;
};

// Reads the big-endian size header; exits kExitShortStream if stdin ends inside it.
uint64_t read_size_header(HeaderKind kind);

// Reads exactly `size` bytes, logging progress every 256 MiB; exits
// kExitShortStream on an early EOF, kExitInternal if they cannot be held.
ModelBytes read_model(uint64_t size, const ReadPlan& plan = {});

}  // namespace feeder
