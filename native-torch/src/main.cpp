// native-torch: reads a size-prefixed TorchScript model from stdin, loads it
// with libtorch, reports what it received, then answers MessagePack
// inference requests with the module's forward() output. Same protocol as
// native-stub, so the daemon feeds either one the same way. This executable
// reads the model; the libtorch half (serve.cpp) is opened meanwhile.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <exception>
#include <string>

#include "entry.hpp"
#include "shared.hpp"
#include "lifetime.hpp"
#include "model_bytes.hpp"
#include "options.hpp"
#include "runtime_loader.hpp"

using namespace ntorch;

namespace {

[[noreturn]] void run(const Options& opts) {
  log_info("native-torch starting: " + describe(opts));
  RuntimeLoader loader;
  uint64_t size = read_size_header(opts.header);
  log_info("size header (" + std::string(header_name(opts.header)) + "): " +
           std::to_string(size) + " bytes");
  const auto start = std::chrono::steady_clock::now();
  ModelBytes bytes = read_model_bytes(size);
  const double read_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ServeFn serve = loader.wait();
  const double wait_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() -
      read_ms;
  const ServeArgs args{
      bytes.data.get(),
      bytes.size,
      bytes.sha256.c_str(),
      read_ms,
      wait_ms,
      std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count(),
      opts.threads,
  };
  serve(&args);
  exit_with(kExitInternal);  // serve never returns
}

}  // namespace

int main(int argc, char** argv) {
  // Seen before anything else, so that die_with_parent can tell whether the
  // parent died before the kernel was asked to signal its death.
  const pid_t parent = ::getppid();
  die_with_parent(parent);
  // A vanished reader must surface as a logged write error, not as a silent
  // death by signal.
  std::signal(SIGPIPE, SIG_IGN);
  Options opts = parse_options(argc, argv);
  try {
    run(opts);
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    exit_with(kExitInternal);
  }
}
