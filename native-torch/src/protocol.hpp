// native-torch's answer to an inference request: the tokens and arguments as
// int64 tensors into forward(), its output tensor back as nested arrays. The
// rest of the protocol is native-lib's (feeder/frames.hpp).
#pragma once

#include <msgpack.hpp>

#include "feeder/frames.hpp"
#include "runtime.hpp"

namespace ntorch {

// Answers with a result frame; a malformed request or a forward() that throws
// is a feeder::RequestError, which becomes an error frame, never an exit.
msgpack::sbuffer answer_inference(const feeder::Request& request, Runtime& runtime);

}  // namespace ntorch
