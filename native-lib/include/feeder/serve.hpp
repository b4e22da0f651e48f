// The request phase: request frames from stdin, one answer each on stdout.
#pragma once

#include <functional>

#include <msgpack.hpp>

namespace feeder {

// Writes one frame whole to stdout, as soon as it is ready.
void send_frame(const msgpack::sbuffer& frame);

// Reads request frames until stdin closes, answering each in turn, then exits
// kExitOk; a stream that is not valid MessagePack exits kExitBadMsgpack.
[[noreturn]] void serve_requests(const std::function<msgpack::sbuffer(const msgpack::object&)>& answer);

}  // namespace feeder
