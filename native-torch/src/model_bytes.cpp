#include "model_bytes.hpp"

#include <algorithm>
#include <cstdint>
#include <new>

#include "shared.hpp"

namespace ntorch {
namespace {

const uint64_t kReadBlock = uint64_t{1} << 20;
const uint64_t kProgressStep = uint64_t{256} << 20;

std::unique_ptr<char[]> allocate(uint64_t size) {
  // new[] without () leaves pages untouched until bytes arrive.
  char* p = size <= SIZE_MAX ? new (std::nothrow) char[size] : nullptr;
  if (p == nullptr) {
    log_error("cannot allocate " + std::to_string(size) + " bytes for the model");
    exit_with(kExitInternal);
  }
  return std::unique_ptr<char[]>(p);
}

void log_progress(uint64_t received, uint64_t size, uint64_t& next_progress) {
  if (received < next_progress) return;
  while (next_progress <= received) next_progress += kProgressStep;
  log_info("received " + std::to_string(received) + " of " + std::to_string(size) + " bytes (" +
           std::to_string(received * 100 / size) + "%)");
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

ModelBytes read_model_bytes(uint64_t size) {
  ModelBytes m;
  m.size = size;
  if (size > 0) m.data = allocate(size);
  Sha256 hash;
  uint64_t received = 0;
  uint64_t next_progress = kProgressStep;
  while (received < size) {
    size_t want = static_cast<size_t>(std::min(kReadBlock, size - received));
    size_t n = read_stdin(m.data.get() + received, want);
    if (n == 0) {
      log_error("model stream ended early: received " + std::to_string(received) + " of " +
                std::to_string(size) + " bytes");
      exit_with(kExitShortStream);
    }
    hash.update(m.data.get() + received, n);
    received += n;
    log_progress(received, size, next_progress);
  }
  m.sha256 = hash.hex_digest();
  return m;
}

}  // namespace ntorch
