#include "feeder/options.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "feeder/exit_codes.hpp"

namespace feeder {
namespace {

const char kHeaderHelp[] =
    "  --header u32|u64           size header width, big-endian; wins over the\n"
    "                             FEEDER_HEADER variable, which is then not read\n"
    "                             (default: FEEDER_HEADER, else u32)\n";
const char kHelpHelp[] = "  --help                     print this help and exit\n";

bool is_one_of(const std::string& name, const std::vector<std::string>& flags) {
  return std::find(flags.begin(), flags.end(), name) != flags.end();
}

void write_fd(int fd, const std::string& text) {
  ssize_t ignored = ::write(fd, text.data(), text.size());
  (void)ignored;
}

}  // namespace

const char* header_name(HeaderKind kind) { return kind == HeaderKind::U64 ? "u64" : "u32"; }

std::string describe(const Header& header) {
  return std::string("header=") + header_name(header.kind) + " (from " + header.source + ")";
}

CommandLine::CommandLine(std::string program, const std::string& synopsis,
                         const std::string& flags_help)
    : program_(std::move(program)),
      usage_(synopsis + "\nflags:\n" + kHeaderHelp + flags_help + kHelpHelp) {}

void CommandLine::fail(const std::string& what) const {
  write_fd(2, program_ + ": " + what + "\n\n" + usage_);
  std::_Exit(kExitUsage);
}

uint64_t CommandLine::number(const std::string& flag, const std::string& text, uint64_t lo,
                             uint64_t hi) const {
  bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  errno = 0;
  unsigned long long v = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (digits && errno != ERANGE && v >= lo && v <= hi) return v;
  std::string bounds;
  if (hi != UINT64_MAX) bounds = " (must be " + std::to_string(lo) + ".." + std::to_string(hi) + ")";
  fail("bad value for " + flag + ": '" + text + "'" + bounds);
}

std::optional<uint64_t> CommandLine::number_from_env(const std::string& variable, uint64_t lo,
                                                     uint64_t hi) const {
  const char* text = std::getenv(variable.c_str());
  if (text == nullptr) return std::nullopt;
  return number(variable, text, lo, hi);
}

HeaderKind CommandLine::parse_header(const std::string& source, const std::string& text) const {
  if (text == "u32") return HeaderKind::U32;
  if (text == "u64") return HeaderKind::U64;
  fail("bad value for " + source + ": '" + text + "' (must be u32 or u64)");
}

// Accepts both "--flag value" and "--flag=value"; returns the next index.
int CommandLine::apply(Header& header, const FlagSpec& flags, int argc, char** argv, int i) const {
  std::string arg = argv[i];
  if (arg == "--help" || arg == "-h") {
    write_fd(1, usage_);
    std::_Exit(kExitOk);
  }
  std::string name = arg, value;
  bool inline_value = false;
  if (size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
    name = arg.substr(0, eq);
    value = arg.substr(eq + 1);
    inline_value = true;
  }
  if (is_one_of(name, flags.switches)) {
    if (inline_value) fail("flag " + name + " takes no value");
    flags.set_switch(name);
    return i + 1;
  }
  if (name != "--header" && !is_one_of(name, flags.values)) fail("unknown flag: " + arg);
  if (!inline_value) {
    if (i + 1 >= argc) fail("flag " + name + " needs a value");
    value = argv[++i];
  }
  if (name == "--header") header = {parse_header(name, value), name};
  if (name != "--header") flags.set_value(name, value);
  return i + 1;
}

Header CommandLine::parse(int argc, char** argv, const FlagSpec& flags) const {
  Header header;
  for (int i = 1; i < argc;) i = apply(header, flags, argc, argv, i);
  // The daemon names the width it writes (docs/native-protocol.md); the flag, when given, wins.
  const char* env = std::getenv("FEEDER_HEADER");
  if (header.source == "default" && env != nullptr) header = {parse_header("FEEDER_HEADER", env), "FEEDER_HEADER"};
  return header;
}

}  // namespace feeder
