// MessagePack frames: the requests on stdin and the answers on stdout. Every
// frame is a map with string keys and a "type" discriminator. What a request
// asks of the model is the executable's; the rest (reading the keys, control
// requests, error frames, the frames' shapes) is answered here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include <msgpack.hpp>

namespace feeder {

using Packer = msgpack::packer<msgpack::sbuffer>;

// A request the process cannot serve; handle_request answers it with an error frame.
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The keys of one request: a string request_id, and tokens or control (not
// both). Unknown keys are ignored. The pointers are into the decoded request.
struct Request {
  std::string id;
  const msgpack::object* tokens = nullptr;
  const msgpack::object* control = nullptr;
  const msgpack::object* args[3] = {nullptr, nullptr, nullptr};  // arg_1..arg_3 as given
};

extern const char* const kArgKeys[3];

// " (got string)": what a value of the wrong type was, for an error message.
std::string got(const msgpack::object& value);

msgpack::sbuffer encode_loaded(uint64_t bytes, const std::string& sha256, double ms);

// A result frame whose result.inference `pack_inference` packs; time_ms runs
// from `start` to the inference packed.
msgpack::sbuffer encode_result(const std::string& id,
                               const std::function<void(Packer&)>& pack_inference,
                               std::chrono::steady_clock::time_point start);

// Answers an inference request with a result frame, or throws RequestError.
using Inference = std::function<msgpack::sbuffer(const Request&)>;

// Answers one decoded request with exactly one frame: inference through `infer`,
// control 1 (stats) and 0 (ack) here, and anything malformed with an error frame.
// Never throws for a bad request.
msgpack::sbuffer handle_request(const msgpack::object& request, const Inference& infer);

}  // namespace feeder
