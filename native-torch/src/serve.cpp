// The libtorch half of native-torch (libnative-torch-runtime.so): load the
// module from the bytes the executable read, then answer requests through
// native-lib's request loop.
#include <chrono>
#include <optional>
#include <string>

#include "entry.hpp"
#include "feeder/io.hpp"
#include "feeder/lifetime.hpp"
#include "feeder/log.hpp"
#include "feeder/serve.hpp"
#include "feeder/stderr_capture.hpp"
#include "feeder/workers.hpp"
#include "protocol.hpp"
#include "runtime.hpp"
#include "warnings.hpp"

using namespace feeder;

namespace {

double ms_since(int64_t start_ns) {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() -
                             start_ns) /
         1e6;
}

// One worker answers on the reading thread, as before workers existed: no hand-over
// between threads on the way of a lone request.
[[noreturn]] void serve(ntorch::Runtime& runtime, int workers) {
  const Inference infer = [&](const Request& r) { return ntorch::answer_inference(r, runtime); };
  const Answer answer = [&](const msgpack::object& request) { return handle_request(request, infer); };
  if (workers == 1) serve_requests(answer);
  serve_requests_in_parallel(workers, ntorch::configure_worker_threads, answer);
}

// A model libtorch refuses ends the process with the reason on stderr, and no
// loaded frame: the daemon fails the deployment with that line.
[[noreturn]] void refuse_model(const ntorch::ServeArgs& args, const ntorch::LoadError& e) {
  log_error(std::string(e.what()) + " (bytes=" + std::to_string(args.size) + " sha256=" +
            args.sha256 + ")");
  exit_with(kExitBadModel);
}

[[noreturn]] void load_and_serve(const ntorch::ServeArgs& args) {
  ntorch::log_torch_output();
  ntorch::configure_threads(args.threads);
  const double before_load = ms_since(args.start_ns);
  std::optional<ntorch::Runtime> runtime;
  try {
    runtime.emplace(args.data, args.size);
  } catch (const ntorch::LoadError& e) {
    refuse_model(args, e);
  }
  const double ms = ms_since(args.start_ns);
  log_info("model loaded: bytes=" + std::to_string(args.size) + " sha256=" + args.sha256 +
           " read_ms=" + std::to_string(args.read_ms) +
           " runtime_wait_ms=" + std::to_string(args.wait_ms) +
           " load_ms=" + std::to_string(ms - before_load) + " total_ms=" + std::to_string(ms));
  send_frame(encode_loaded(args.size, args.sha256, ms));
  serve(*runtime, args.workers);
}

}  // namespace

// The loaded frame is sent only once the module is loaded.
extern "C" void ntorch_serve_model(const ntorch::ServeArgs* args) {
  adopt_stderr_capture(args->stderr_capture);
  exit_on_exception([args] { load_and_serve(*args); });
  exit_with(kExitInternal);  // load_and_serve never returns
}
