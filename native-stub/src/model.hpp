// The stub's model phase: native-lib's read, bent by the faults that fire
// "after N bytes" (they must trigger at an exact byte count), the throttle
// and --discard.
#pragma once

#include <cstdint>

#include "feeder/model_stream.hpp"
#include "options.hpp"

namespace stub {

// Reads the model bytes; exits 3 on early EOF and applies the
// --crash-after-bytes / --exit-after-bytes / --read-rate / --read-block /
// --discard switches.
feeder::ModelBytes read_model(uint64_t size, const Options& opts);

}  // namespace stub
