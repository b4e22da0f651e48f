// The model phase: the size header, then exactly `size` bytes held in memory
// and hashed as they arrive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "options.hpp"

namespace ntorch {

struct ModelBytes {
  uint64_t size = 0;
  std::unique_ptr<char[]> data;  // null when size is 0
  std::string sha256;            // lowercase hex
};

// Reads the big-endian size header; exits kExitShortStream if stdin ends inside it.
uint64_t read_size_header(HeaderKind kind);

// Reads exactly `size` bytes; exits kExitShortStream on an early EOF.
ModelBytes read_model_bytes(uint64_t size);

}  // namespace ntorch
