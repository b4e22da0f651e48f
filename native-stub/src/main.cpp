// native-stub: a stand-in for Elastic's pytorch_inference. It reads a
// size-prefixed model from stdin, reports what it received, then answers
// MessagePack requests, with fault switches for testing a daemon against it.
// What it shares with every native process (I/O, log lines, options, the
// model stream, frames, the request loop, lifetime) is native-lib's.
#include <cctype>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "feeder/io.hpp"
#include "feeder/lifetime.hpp"
#include "feeder/log.hpp"
#include "feeder/serve.hpp"
#include "feeder/workers.hpp"
#include "helper.hpp"
#include "model.hpp"
#include "options.hpp"
#include "protocol.hpp"
#include "reorder.hpp"

using namespace feeder;

namespace {

// A flipped last hex digit keeps the value well-formed (64 lowercase hex
// chars) so the daemon's comparison, not its parser, is what gets tested.
std::string corrupt_sha(std::string sha) {
  char& last = sha.back();
  int v = last <= '9' ? last - '0' : last - 'a' + 10;
  last = "0123456789abcdef"[v ^ 1];
  return sha;
}

void announce(const ModelBytes& m, const stub::Options& opts) {
  log_info("model loaded: bytes=" + std::to_string(m.size) + " sha256=" + m.sha256 +
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
  uint64_t bytes = m.size;
  if (opts.wrong_sha) log_warn("simulated wrong sha256 in the loaded frame");
  if (opts.wrong_sha) sha = corrupt_sha(sha);
  if (opts.upper_sha) for (char& c : sha) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (opts.wrong_bytes) log_warn("simulated wrong byte count in the loaded frame");
  if (opts.wrong_bytes) bytes += 1;
  send_frame(encode_loaded(bytes, sha, m.ms));
}

[[noreturn]] void serve_reordered(const Answer& answer) {
  stub::Reorderer reorderer(std::chrono::milliseconds(200));
  read_requests([&](msgpack::object_handle&& oh) { reorderer.submit(answer(oh.get())); });
  reorderer.flush();
  log_info("stdin closed, exiting");
  exit_with(kExitOk);
}

[[noreturn]] void serve(const ModelBytes& model, const stub::Options& opts) {
  const Inference infer = [&](const Request& r) {
    if (!opts.wrong_request_id) return stub::answer_inference(r, model);
    Request other = r;
    other.id += "-wrong";
    return stub::answer_inference(other, model);
  };
  const Answer answer = [&](const msgpack::object& request) {
    if (opts.answer_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(opts.answer_delay_ms));
    return handle_request(request, infer);
  };
  if (opts.reorder) serve_reordered(answer);
  if (opts.workers > 1) serve_requests_in_parallel(opts.workers, [] {}, answer);
  serve_requests(answer);
}

void run(const stub::Options& opts) {
  log_info("native-stub starting: " + describe(opts));
  if (opts.exit_code && !opts.exit_after_bytes) {
    log_error("simulated exit with code " + std::to_string(*opts.exit_code));
    exit_with(*opts.exit_code);
  }
  uint64_t size = read_size_header(opts.header.kind);
  log_info("size header (" + std::string(header_name(opts.header.kind)) + "): " +
           std::to_string(size) + " bytes");
  if (opts.hang) {
    log_warn("simulated hang");
    sleep_forever();
  }
  ModelBytes model = stub::read_model(size, opts);
  announce(model, opts);
  if (opts.wrong_request_id) log_warn("simulated wrong request_id in every inference answer");
  serve(model, opts);
}

}  // namespace

int main(int argc, char** argv) {
  begin_lifetime();
  stub::Options opts = stub::parse_options(argc, argv);
  if (opts.ignore_sigterm) std::signal(SIGTERM, SIG_IGN);
  // After the SIGTERM disposition is set, so the helper ignores it too.
  if (opts.spawn_helper) stub::spawn_helper();
  exit_on_exception([&] { run(opts); });
  return kExitOk;
}
