// Command-line flags: the fault switches that let a daemon's failure paths
// be exercised against a real child process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace stub {

enum class HeaderKind { U32, U64 };

struct Options {
  HeaderKind header = HeaderKind::U32;
  // Where the width came from: "--header", "FEEDER_HEADER" (the daemon sets it), or "default".
  std::string header_source = "default";
  std::optional<uint64_t> crash_after_bytes;
  std::optional<uint64_t> exit_after_bytes;
  std::optional<int> exit_code;
  std::optional<uint64_t> read_rate;  // bytes per second
  uint64_t read_block = 1024 * 1024;
  uint64_t answer_delay_ms = 0;  // before each answer: a slow model, to fill a caller's queue
  bool hang = false;
  bool hang_after_load = false;
  bool garbage = false;
  bool wrong_sha = false;
  bool wrong_bytes = false;
  bool upper_sha = false;  // a valid report in the other hex case: the daemon must take either
  bool discard = false;
  bool ignore_sigterm = false;
  bool spawn_helper = false;  // a child in the stub's process group, for group-kill tests
};

// Parses argv; prints usage and exits (0 for --help, 2 for a bad flag).
Options parse_options(int argc, char** argv);

// One-line summary of the flags in effect, for the start log line.
std::string describe(const Options& opts);

const char* header_name(HeaderKind kind);

}  // namespace stub
