#include "feeder/serve.hpp"

#include <mutex>
#include <string>

#include "feeder/io.hpp"
#include "feeder/log.hpp"

namespace feeder {
namespace {

const size_t kRequestChunk = 64 * 1024;

using Take = std::function<void(msgpack::object_handle&&)>;

std::mutex stdout_mutex;

// Limits for the request unpacker, so a hostile length prefix fails as bad
// MessagePack instead of a giant allocation.
msgpack::unpack_limit request_limits() {
  const size_t kArray = size_t{1} << 24;  // elements per array (tokens per row)
  const size_t kMap = size_t{1} << 16;
  const size_t kBlob = size_t{64} << 20;  // str, bin and ext bytes
  const size_t kDepth = 64;
  return msgpack::unpack_limit(kArray, kMap, kBlob, kBlob, kBlob, kDepth);
}

// Returns false once no complete frame remains in the unpacker.
bool take_next(msgpack::unpacker& unp, const Take& take) {
  msgpack::object_handle oh;
  try {
    if (!unp.next(oh)) return false;
  } catch (const msgpack::unpack_error& e) {
    log_error(std::string("invalid MessagePack on stdin: ") + e.what());
    exit_with(kExitBadMsgpack);
  }
  take(std::move(oh));
  return true;
}

// Lets strings point into the unpacker's buffer (its default) instead of
// being copied; the object handle keeps that buffer alive.
bool reference_strings(msgpack::type::object_type, size_t, void*) { return true; }

}  // namespace

void send_frame(const msgpack::sbuffer& frame) {
  const std::lock_guard<std::mutex> lock(stdout_mutex);
  write_stdout(frame.data(), frame.size());
}

void read_requests(const Take& take) {
  msgpack::unpacker unp(&reference_strings, nullptr, MSGPACK_UNPACKER_INIT_BUFFER_SIZE,
                        request_limits());
  for (;;) {
    unp.reserve_buffer(kRequestChunk);
    size_t n = read_stdin(unp.buffer(), unp.buffer_capacity());
    if (n == 0) break;
    unp.buffer_consumed(n);
    while (take_next(unp, take)) {
    }
  }
  if (unp.nonparsed_size() > 0) {
    log_warn("stdin closed inside a request frame; dropping " +
             std::to_string(unp.nonparsed_size()) + " bytes");
  }
}

void serve_requests(const Answer& answer) {
  read_requests([&](msgpack::object_handle&& oh) { send_frame(answer(oh.get())); });
  log_info("stdin closed, exiting");
  exit_with(kExitOk);
}

}  // namespace feeder
