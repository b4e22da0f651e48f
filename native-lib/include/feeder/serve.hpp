// The request phase: request frames from stdin, one answer each on stdout.
#pragma once

#include <functional>

#include <msgpack.hpp>

namespace feeder {

using Answer = std::function<msgpack::sbuffer(const msgpack::object&)>;

// Writes one frame whole to stdout, as soon as it is ready. Safe from any
// thread: frames of several workers never interleave.
void send_frame(const msgpack::sbuffer& frame);

// Reads request frames until stdin closes, handing each over decoded; the
// handle owns the buffer its strings point into, so it may move to another
// thread. A stream that is not valid MessagePack exits kExitBadMsgpack.
void read_requests(const std::function<void(msgpack::object_handle&&)>& take);

// Answers each request in turn, in the order read, until stdin closes, then
// exits kExitOk.
[[noreturn]] void serve_requests(const Answer& answer);

}  // namespace feeder
