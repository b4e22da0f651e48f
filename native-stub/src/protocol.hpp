// MessagePack frames on stdout and request handling for the serving phase.
// Every frame is a map with string keys and a "type" discriminator.
#pragma once

#include <cstdint>
#include <string>

#include <msgpack.hpp>

#include "model.hpp"

namespace stub {

msgpack::sbuffer encode_loaded(uint64_t bytes, const std::string& sha256, double ms);

// Answers one decoded request with exactly one frame (result, stats, ack or
// error). Never throws for malformed requests: those become error frames.
msgpack::sbuffer handle_request(const msgpack::object& request, const Model& model);

// Limits for the request unpacker, so a hostile length prefix fails as bad
// MessagePack instead of a giant allocation.
msgpack::unpack_limit request_limits();

}  // namespace stub
