// native-torch's own flag, --threads; --header and --help are native-lib's.
#pragma once

#include <string>

#include "feeder/options.hpp"

namespace ntorch {

struct Options {
  feeder::Header header;
  int threads = 1;  // intra-op threads, like pytorch_inference's numThreadsPerAllocation
};

// Parses argv and FEEDER_HEADER; prints usage and exits (0 for --help, 2 for a
// bad flag or variable).
Options parse_options(int argc, char** argv);

std::string describe(const Options& opts);

}  // namespace ntorch
