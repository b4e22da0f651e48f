// native-torch: reads a size-prefixed TorchScript model from stdin, loads it
// with libtorch, reports what it received, then answers MessagePack
// inference requests with the module's forward() output. The protocol is
// native-lib's, as the stub's, so the daemon feeds either one the same way.
// This executable reads the model; the libtorch half (serve.cpp) is opened
// meanwhile.
#include <chrono>
#include <string>

#include "entry.hpp"
#include "feeder/io.hpp"
#include "feeder/lifetime.hpp"
#include "feeder/log.hpp"
#include "feeder/model_stream.hpp"
#include "feeder/stderr_capture.hpp"
#include "options.hpp"
#include "runtime_loader.hpp"

using namespace feeder;

namespace {

[[noreturn]] void run(const ntorch::Options& opts) {
  // Before libtorch is opened: its static initializers may write already.
  StderrCapture* capture = capture_stderr();
  log_info("native-torch starting: " + describe(opts));
  ntorch::RuntimeLoader loader;
  uint64_t size = read_size_header(opts.header.kind);
  log_info("size header (" + std::string(header_name(opts.header.kind)) + "): " +
           std::to_string(size) + " bytes");
  const auto start = std::chrono::steady_clock::now();
  ModelBytes bytes = read_model(size);
  ntorch::ServeFn serve = loader.wait();
  const double wait_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() -
      bytes.ms;
  const ntorch::ServeArgs args{
      reinterpret_cast<const char*>(bytes.data.get()),
      bytes.size,
      bytes.sha256.c_str(),
      bytes.ms,
      wait_ms,
      std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count(),
      opts.workers,
      opts.threads,
      capture,
  };
  serve(&args);
  exit_with(kExitInternal);  // serve never returns
}

}  // namespace

int main(int argc, char** argv) {
  begin_lifetime();
  ntorch::Options opts = ntorch::parse_options(argc, argv);
  exit_on_exception([&] { run(opts); });
}
