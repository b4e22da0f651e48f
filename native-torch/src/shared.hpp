// The stub's raw fd I/O, JSON log lines on stderr and SHA-256 are native-torch's too: CMakeLists.txt
// compiles them from native-stub/src, so both processes speak the protocol through one copy. Their
// names come into namespace ntorch here.
#pragma once

#include "../../native-stub/src/io.hpp"
#include "../../native-stub/src/log.hpp"
#include "../../native-stub/src/sha256.hpp"

namespace ntorch {
using namespace stub;
}  // namespace ntorch
