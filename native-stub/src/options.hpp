// The stub's fault switches, which let a daemon's failure paths be exercised
// against a real child process; --header and --help are native-lib's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "feeder/options.hpp"

namespace stub {

struct Options {
  feeder::Header header;
  std::optional<uint64_t> crash_after_bytes;
  std::optional<uint64_t> exit_after_bytes;
  std::optional<int> exit_code;
  std::optional<uint64_t> read_rate;  // bytes per second
  uint64_t read_block = 1024 * 1024;
  uint64_t answer_delay_ms = 0;  // before each answer: a slow model, to fill a caller's queue
  int workers = 1;  // answering threads (FEEDER_WORKERS unless --workers): slow answers at once
  bool reorder = false;  // answers swapped in pairs (reorder.hpp)
  bool hang = false;
  bool hang_after_load = false;
  bool garbage = false;
  bool wrong_sha = false;
  bool wrong_bytes = false;
  bool upper_sha = false;  // a valid report in the other hex case: the daemon must take either
  bool wrong_request_id = false;  // answers carry another id than their request's
  bool discard = false;
  bool ignore_sigterm = false;
  bool spawn_helper = false;  // a child in the stub's process group, for group-kill tests
};

// Parses argv and FEEDER_HEADER; prints usage and exits (0 for --help, 2 for a
// bad flag or variable).
Options parse_options(int argc, char** argv);

// One-line summary of the flags in effect, for the start log line.
std::string describe(const Options& opts);

}  // namespace stub
