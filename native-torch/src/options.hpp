// Command line and environment: the header width (FEEDER_HEADER, overridden
// by --header) and the number of intra-op threads.
#pragma once

#include <cstdint>
#include <string>

namespace ntorch {

enum class HeaderKind { U32, U64 };

struct Options {
  HeaderKind header = HeaderKind::U32;
  std::string header_source = "default";  // "default", "FEEDER_HEADER" or "--header"
  int threads = 1;  // intra-op threads, like pytorch_inference's numThreadsPerAllocation
};

// Parses FEEDER_HEADER, then argv; prints usage and exits (0 for --help, 2
// for a bad flag or a bad FEEDER_HEADER).
Options parse_options(int argc, char** argv);

std::string describe(const Options& opts);

const char* header_name(HeaderKind kind);

}  // namespace ntorch
