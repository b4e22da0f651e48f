// The model phase: size header, then exactly `size` raw bytes, hashed as
// they arrive. Faults that fire "after N bytes" live here because they must
// trigger at an exact byte count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "options.hpp"

namespace stub {

struct Model {
  uint64_t size = 0;
  uint64_t received = 0;
  std::unique_ptr<uint8_t[]> bytes;  // null when size is 0 or --discard
  bool discarded = false;
  std::string sha256;  // lowercase hex
  double ms = 0;       // wall time from end of header to last model byte
};

// Reads the big-endian size header; exits 3 if stdin ends inside it.
uint64_t read_size_header(HeaderKind kind);

// Reads the model bytes; exits 3 on early EOF and applies the
// --crash-after-bytes / --exit-after-bytes / --read-rate faults.
Model read_model(uint64_t size, const Options& opts);

}  // namespace stub
