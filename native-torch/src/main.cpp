// native-torch: reads a size-prefixed TorchScript model from stdin, loads it
// with libtorch, reports what it received, then answers MessagePack
// inference requests with the module's forward() output. Same protocol as
// native-stub, so the daemon feeds either one the same way.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <exception>
#include <string>

#include "io.hpp"
#include "lifetime.hpp"
#include "log.hpp"
#include "model_bytes.hpp"
#include "options.hpp"
#include "protocol.hpp"
#include "runtime.hpp"

using namespace ntorch;

namespace {

const size_t kRequestChunk = 64 * 1024;

using Clock = std::chrono::steady_clock;

void send(const msgpack::sbuffer& frame) { write_stdout(frame.data(), frame.size()); }

// Returns false once no complete frame remains in the unpacker.
bool answer_next(msgpack::unpacker& unp, Runtime& runtime) {
  msgpack::object_handle oh;
  try {
    if (!unp.next(oh)) return false;
  } catch (const msgpack::unpack_error& e) {
    log_error(std::string("invalid MessagePack on stdin: ") + e.what());
    exit_with(kExitBadMsgpack);
  }
  send(handle_request(oh.get(), runtime));
  return true;
}

// Lets strings point into the unpacker's buffer instead of being copied.
bool reference_strings(msgpack::type::object_type, size_t, void*) { return true; }

[[noreturn]] void serve(Runtime& runtime) {
  msgpack::unpacker unp(&reference_strings, nullptr, MSGPACK_UNPACKER_INIT_BUFFER_SIZE,
                        request_limits());
  for (;;) {
    unp.reserve_buffer(kRequestChunk);
    size_t n = read_stdin(unp.buffer(), unp.buffer_capacity());
    if (n == 0) break;
    unp.buffer_consumed(n);
    while (answer_next(unp, runtime)) {
    }
  }
  if (unp.nonparsed_size() > 0) {
    log_warn("stdin closed inside a request frame; dropping " +
             std::to_string(unp.nonparsed_size()) + " bytes");
  }
  log_info("stdin closed, exiting");
  exit_with(kExitOk);
}

// The loaded frame is sent only once the module is loaded: a model that
// libtorch refuses ends the process with the reason on stderr instead.
Runtime load(const Options& opts) {
  uint64_t size = read_size_header(opts.header);
  log_info("size header (" + std::string(header_name(opts.header)) + "): " +
           std::to_string(size) + " bytes");
  const auto start = Clock::now();
  ModelBytes bytes = read_model_bytes(size);
  const double read_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  try {
    Runtime runtime(bytes);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    log_info("model loaded: bytes=" + std::to_string(bytes.size) + " sha256=" + bytes.sha256 +
             " read_ms=" + std::to_string(read_ms) + " total_ms=" + std::to_string(ms));
    send(encode_loaded(bytes.size, bytes.sha256, ms));
    return runtime;
  } catch (const LoadError& e) {
    log_error(std::string(e.what()) + " (bytes=" + std::to_string(bytes.size) +
              " sha256=" + bytes.sha256 + ")");
    exit_with(kExitBadModel);
  }
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
    log_info("native-torch starting: " + describe(opts));
    configure_threads(opts.threads);
    Runtime runtime = load(opts);
    serve(runtime);
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    exit_with(kExitInternal);
  }
  return kExitOk;
}
