// native-torch's own flags, --workers and --threads (or FEEDER_WORKERS and
// FEEDER_THREADS_PER_WORKER from the daemon); --header and --help are native-lib's.
#pragma once

#include <string>

#include "feeder/options.hpp"

namespace ntorch {

struct Options {
  feeder::Header header;
  int workers = 1;  // inter-op: forward()s at once, like Elastic's number_of_allocations
  int threads = 1;  // intra-op threads of each, like pytorch_inference's numThreadsPerAllocation
};

// Parses argv and FEEDER_HEADER; prints usage and exits (0 for --help, 2 for a
// bad flag or variable).
Options parse_options(int argc, char** argv);

std::string describe(const Options& opts);

}  // namespace ntorch
