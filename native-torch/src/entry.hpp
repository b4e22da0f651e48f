// The boundary between the native-torch executable and its libtorch half,
// libnative-torch-runtime.so. The executable does not link libtorch: loading
// it (450 MiB, and its static initializers) takes about 0.3 s, so the
// executable opens it on a thread of its own while it reads the model from
// stdin, instead of before main() as a linked library would be.
#pragma once

#include <cstdint>

#include "feeder/stderr_capture.hpp"

namespace ntorch {

struct ServeArgs {
  const char* data;    // the model bytes, owned by the executable
  uint64_t size;
  const char* sha256;  // lowercase hex
  double read_ms;      // from the end of the size header to the last model byte
  double wait_ms;      // then waiting for this library to be opened
  int64_t start_ns;    // steady clock at the end of the size header
  int workers;
  int threads;
  // The executable's, which the library's own copy of native-lib must log through.
  feeder::StderrCapture* stderr_capture;
};

}  // namespace ntorch

// Loads the module, sends the loaded frame, serves requests until stdin EOF
// and exits; a model libtorch refuses exits with kExitBadModel. Never returns.
extern "C" __attribute__((visibility("default"))) [[noreturn]] void ntorch_serve_model(const ntorch::ServeArgs* args);

constexpr const char* kServeSymbol = "ntorch_serve_model";
constexpr const char* kRuntimeLibrary = "libnative-torch-runtime.so";
