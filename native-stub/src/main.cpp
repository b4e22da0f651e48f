// native-stub: a stand-in for Elastic's pytorch_inference. It reads a
// size-prefixed model from stdin, reports what it received, then answers
// MessagePack requests, with fault switches for testing a daemon against it.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <exception>
#include <string>
#include <thread>

#include "io.hpp"
#include "lifetime.hpp"
#include "log.hpp"
#include "model.hpp"
#include "options.hpp"
#include "protocol.hpp"

using namespace stub;

namespace {

const size_t kRequestChunk = 64 * 1024;

void send(const msgpack::sbuffer& frame) { write_stdout(frame.data(), frame.size()); }

// A flipped last hex digit keeps the value well-formed (64 lowercase hex
// chars) so the daemon's comparison, not its parser, is what gets tested.
std::string corrupt_sha(std::string sha) {
  char& last = sha.back();
  int v = last <= '9' ? last - '0' : last - 'a' + 10;
  last = "0123456789abcdef"[v ^ 1];
  return sha;
}

void announce(const Model& m, const Options& opts) {
  log_info("model loaded: bytes=" + std::to_string(m.received) + " sha256=" + m.sha256 +
           " ms=" + std::to_string(m.ms));
  if (opts.hang_after_load) {
    log_warn("simulated hang after load (no loaded frame will be sent)");
    sleep_forever();
  }
  if (opts.garbage) {
    log_warn("simulated garbage: writing 64 invalid bytes instead of the loaded frame");
    const std::string junk(64, static_cast<char>(0xc1));
    write_stdout(junk.data(), junk.size());
    return;
  }
  std::string sha = m.sha256;
  uint64_t bytes = m.received;
  if (opts.wrong_sha) log_warn("simulated wrong sha256 in the loaded frame");
  if (opts.wrong_sha) sha = corrupt_sha(sha);
  if (opts.upper_sha) for (char& c : sha) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (opts.wrong_bytes) log_warn("simulated wrong byte count in the loaded frame");
  if (opts.wrong_bytes) bytes += 1;
  send(encode_loaded(bytes, sha, m.ms));
}

// Returns false once no complete frame remains in the unpacker.
bool answer_next(msgpack::unpacker& unp, const Model& model, uint64_t delay_ms) {
  msgpack::object_handle oh;
  try {
    if (!unp.next(oh)) return false;
  } catch (const msgpack::unpack_error& e) {
    log_error(std::string("invalid MessagePack on stdin: ") + e.what());
    exit_with(kExitBadMsgpack);
  }
  if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  send(handle_request(oh.get(), model));
  return true;
}

// Lets strings point into the unpacker's buffer (its default) instead of
// being copied; the object handle keeps that buffer alive.
bool reference_strings(msgpack::type::object_type, size_t, void*) { return true; }

[[noreturn]] void serve(const Model& model, uint64_t answer_delay_ms) {
  msgpack::unpacker unp(&reference_strings, nullptr,
                        MSGPACK_UNPACKER_INIT_BUFFER_SIZE, request_limits());
  for (;;) {
    unp.reserve_buffer(kRequestChunk);
    size_t n = read_stdin(unp.buffer(), unp.buffer_capacity());
    if (n == 0) break;
    unp.buffer_consumed(n);
    while (answer_next(unp, model, answer_delay_ms)) {
    }
  }
  if (unp.nonparsed_size() > 0) {
    log_warn("stdin closed inside a request frame; dropping " +
             std::to_string(unp.nonparsed_size()) + " bytes");
  }
  log_info("stdin closed, exiting");
  exit_with(kExitOk);
}

void run(const Options& opts) {
  log_info("native-stub starting: " + describe(opts));
  if (opts.exit_code && !opts.exit_after_bytes) {
    log_error("simulated exit with code " + std::to_string(*opts.exit_code));
    exit_with(*opts.exit_code);
  }
  uint64_t size = read_size_header(opts.header);
  log_info("size header (" + std::string(header_name(opts.header)) + "): " + std::to_string(size) +
           " bytes");
  if (opts.hang) {
    log_warn("simulated hang");
    sleep_forever();
  }
  Model model = read_model(size, opts);
  announce(model, opts);
  serve(model, opts.answer_delay_ms);
}

}  // namespace

int main(int argc, char** argv) {
  // Seen before anything else, so that die_with_parent can tell whether the
  // parent died before the kernel was asked to signal its death.
  const pid_t parent = ::getppid();
  die_with_parent(parent);
  // A vanished reader must surface as a logged write error (exit 5), not
  // as a silent death by signal.
  std::signal(SIGPIPE, SIG_IGN);
  Options opts = parse_options(argc, argv);
  if (opts.ignore_sigterm) std::signal(SIGTERM, SIG_IGN);
  // After the SIGTERM disposition is set, so the helper ignores it too.
  if (opts.spawn_helper) spawn_helper();
  try {
    run(opts);
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    exit_with(kExitInternal);
  }
  return kExitOk;
}
