// The libtorch side: a TorchScript module loaded from the bytes in memory,
// and one forward() per request.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/script.h>


namespace ntorch {

// The bytes are not a TorchScript module that can be served; what() says why.
struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A forward() that threw; what() is libtorch's message without its C++ backtrace.
struct ForwardError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Sets the intra-op thread count of each forward() (and one inter-op thread: a
// forward() runs its graph in order). Call before any tensor work.
void configure_threads(int threads);

// On a worker thread: its own forward()s get the intra-op thread count set by
// configure_threads. libtorch's OpenMP backend keeps that count per thread (an
// OpenMP ICV, and MKL's local setting), and a new thread starts from the
// machine's default (every core), so N workers would each fan out on all cores.
void configure_worker_threads();

class Runtime {
 public:
  // Loads with torch::jit::load from the in-memory bytes (no copy, no file);
  // throws LoadError.
  Runtime(const char* data, uint64_t size);

  // Runs forward(inputs...) under inference mode and returns its tensor (the
  // first element when it returns a tuple or a list). Throws ForwardError.
  at::Tensor forward(std::vector<c10::IValue> inputs);

 private:
  torch::jit::Module module_;
};

}  // namespace ntorch
