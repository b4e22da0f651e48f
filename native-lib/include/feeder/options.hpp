// The command line every native process shares: --header (and FEEDER_HEADER,
// which the daemon sets), --help, usage errors, and the parsing of a program's
// own flags around them.
//
// The header width, one rule for every process: --header, when given, wins and
// FEEDER_HEADER is then not read at all. Without it, a set FEEDER_HEADER must be
// u32 or u64, and any other value (the empty one too) is a usage error naming the
// variable; an unset one means u32.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace feeder {

enum class HeaderKind { U32, U64 };

const char* header_name(HeaderKind kind);

struct Header {
  HeaderKind kind = HeaderKind::U32;
  std::string source = "default";  // "--header", "FEEDER_HEADER" or "default"
};

// "header=u64 (from FEEDER_HEADER)", for a process's start line.
std::string describe(const Header& header);

// A program's own flags; --header and --help are the library's.
struct FlagSpec {
  std::vector<std::string> values;    // take a value: `--flag V` or `--flag=V`
  std::vector<std::string> switches;  // take none
  std::function<void(const std::string& flag, const std::string& value)> set_value;
  std::function<void(const std::string& flag)> set_switch;
};

class CommandLine {
 public:
  // `synopsis` opens --help (usage line and what the program is); `flags_help`
  // lists the program's own flags, which --help prints between --header and --help.
  CommandLine(std::string program, const std::string& synopsis, const std::string& flags_help);

  // Parses argv, then the header width by the rule above. Prints the usage and
  // exits kExitOk for --help, kExitUsage for a usage error.
  Header parse(int argc, char** argv, const FlagSpec& flags) const;

  // Decimal digits only, so "-1", "1k" or "" are refused rather than wrapped.
  uint64_t number(const std::string& flag, const std::string& text, uint64_t lo = 0,
                  uint64_t hi = UINT64_MAX) const;

  // A number the daemon may pass in the environment (FEEDER_WORKERS): none when
  // the variable is unset; a set one that is not a number in [lo, hi] (the empty
  // one too) is a usage error naming the variable, as for FEEDER_HEADER.
  std::optional<uint64_t> number_from_env(const std::string& variable, uint64_t lo,
                                          uint64_t hi) const;

  // Writes "<program>: <what>" and the usage to stderr, exits kExitUsage.
  [[noreturn]] void fail(const std::string& what) const;

 private:
  int apply(Header& header, const FlagSpec& flags, int argc, char** argv, int i) const;
  HeaderKind parse_header(const std::string& source, const std::string& text) const;

  std::string program_;
  std::string usage_;
};

}  // namespace feeder
