// MessagePack frames on stdout and the requests of the serving phase. Every
// frame is a map with string keys and a "type" discriminator, as the stub's.
#pragma once

#include <cstdint>
#include <string>

#include <msgpack.hpp>

#include "runtime.hpp"

namespace ntorch {

msgpack::sbuffer encode_loaded(uint64_t bytes, const std::string& sha256, double ms);

// Answers one decoded request with exactly one frame (result, stats, ack or
// error). A malformed request or a forward() that throws becomes an error
// frame; nothing here ends the process.
msgpack::sbuffer handle_request(const msgpack::object& request, Runtime& runtime);

// Limits for the request unpacker, so a hostile length prefix fails as bad
// MessagePack instead of a giant allocation.
msgpack::unpack_limit request_limits();

}  // namespace ntorch
