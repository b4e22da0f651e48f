// The libtorch half of native-torch (libnative-torch-runtime.so): load the
// module from the bytes the executable read, then answer requests.
#include <chrono>
#include <exception>
#include <string>

#include "entry.hpp"
#include "shared.hpp"
#include "protocol.hpp"
#include "runtime.hpp"

using namespace ntorch;

namespace {

const size_t kRequestChunk = 64 * 1024;

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

double ms_since(int64_t start_ns) {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() -
                             start_ns) /
         1e6;
}

}  // namespace

// The loaded frame is sent only once the module is loaded: a model that
// libtorch refuses ends the process with the reason on stderr instead.
extern "C" void ntorch_serve_model(const ServeArgs* args) {
  try {
    configure_threads(args->threads);
    const double before_load = ms_since(args->start_ns);
    Runtime runtime(args->data, args->size);
    const double ms = ms_since(args->start_ns);
    log_info("model loaded: bytes=" + std::to_string(args->size) + " sha256=" + args->sha256 +
             " read_ms=" + std::to_string(args->read_ms) +
             " runtime_wait_ms=" + std::to_string(args->wait_ms) +
             " load_ms=" + std::to_string(ms - before_load) + " total_ms=" + std::to_string(ms));
    send(encode_loaded(args->size, args->sha256, ms));
    serve(runtime);
  } catch (const LoadError& e) {
    log_error(std::string(e.what()) + " (bytes=" + std::to_string(args->size) +
              " sha256=" + args->sha256 + ")");
    exit_with(kExitBadModel);
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    exit_with(kExitInternal);
  }
}
