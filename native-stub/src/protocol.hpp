// The stub's answer to an inference request: the model bytes themselves, so a
// test can prove every byte arrived in place. The rest of the protocol is
// native-lib's (feeder/frames.hpp).
#pragma once

#include <msgpack.hpp>

#include "feeder/frames.hpp"
#include "feeder/model_stream.hpp"

namespace stub {

// inference[b][i] = [model[t mod size] / 255.0, arg_1[b][i], ...]; throws
// feeder::RequestError for what it cannot answer.
msgpack::sbuffer answer_inference(const feeder::Request& request, const feeder::ModelBytes& model);

}  // namespace stub
