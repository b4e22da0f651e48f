#include "options.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace stub {
namespace {

const char kUsage[] =
    "usage: native-stub [flags] < size-header + model bytes + msgpack requests\n"
    "\n"
    "Stands in for Elastic's pytorch_inference in tests.\n"
    "\n"
    "flags:\n"
    "  --header u32|u64           size header width, big-endian (default: the\n"
    "                             FEEDER_HEADER environment variable, else u32)\n"
    "  --crash-after-bytes N      abort() after receiving N model bytes\n"
    "  --exit-after-bytes N       _exit(--exit-code) after receiving N model bytes\n"
    "  --exit-code C              exit code for --exit-after-bytes (default 1);\n"
    "                             alone: exit with C right after start\n"
    "  --read-rate BYTES_PER_SEC  throttle reading of the model bytes\n"
    "  --read-block N             read() size for the model phase (default 1048576)\n"
    "  --answer-delay-ms N        wait N ms before each answer (a slow model)\n"
    "  --hang                     stop reading stdin after the size header\n"
    "  --hang-after-load          read the model, never send the loaded frame\n"
    "  --garbage                  send ~64 invalid msgpack bytes instead of the loaded frame\n"
    "  --wrong-sha                report a wrong sha256 in the loaded frame\n"
    "  --wrong-bytes              report bytes + 1 in the loaded frame\n"
    "  --upper-sha                report the (right) sha256 in uppercase hex\n"
    "  --discard                  hash and count model bytes but do not keep them\n"
    "  --ignore-sigterm           ignore SIGTERM (only SIGKILL stops it)\n"
    "  --spawn-helper             fork a sleeping child that only a signal to the\n"
    "                             process group (or its pid) ends\n"
    "  --help                     print this help and exit\n";

const uint64_t kMaxReadBlock = uint64_t{1} << 30;

[[noreturn]] void usage_error(const std::string& what) {
  std::string msg = "native-stub: " + what + "\n\n" + kUsage;
  ssize_t ignored = ::write(2, msg.data(), msg.size());
  (void)ignored;
  std::_Exit(2);
}

// Strict: digits only, so "-1", "1k" or "" are rejected rather than wrapped.
uint64_t parse_u64(const std::string& flag, const std::string& text) {
  bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  errno = 0;
  unsigned long long v = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE) usage_error("bad value for " + flag + ": '" + text + "'");
  return v;
}

uint64_t parse_ranged(const std::string& flag, const std::string& text, uint64_t lo, uint64_t hi) {
  uint64_t v = parse_u64(flag, text);
  if (v < lo || v > hi) {
    usage_error("bad value for " + flag + ": '" + text + "' (must be " + std::to_string(lo) +
                ".." + std::to_string(hi) + ")");
  }
  return v;
}

HeaderKind parse_header(const std::string& source, const std::string& text) {
  if (text == "u32") return HeaderKind::U32;
  if (text == "u64") return HeaderKind::U64;
  usage_error("bad value for " + source + ": '" + text + "' (must be u32 or u64)");
}

const char* const kValueFlags[] = {"--header",    "--crash-after-bytes", "--exit-after-bytes",
                                   "--exit-code", "--read-rate",         "--read-block",
                                   "--answer-delay-ms"};
const char* const kSwitchFlags[] = {"--hang",      "--hang-after-load", "--garbage",
                                    "--wrong-sha", "--wrong-bytes", "--upper-sha",     "--discard",
                                    "--ignore-sigterm", "--spawn-helper"};

template <size_t N>
bool is_one_of(const std::string& name, const char* const (&flags)[N]) {
  for (const char* flag : flags) {
    if (name == flag) return true;
  }
  return false;
}

void set_value(Options& o, const std::string& flag, const std::string& v) {
  if (flag == "--header") o.header = parse_header(flag, v);
  if (flag == "--header") o.header_source = flag;
  if (flag == "--crash-after-bytes") o.crash_after_bytes = parse_u64(flag, v);
  if (flag == "--exit-after-bytes") o.exit_after_bytes = parse_u64(flag, v);
  if (flag == "--exit-code") o.exit_code = static_cast<int>(parse_ranged(flag, v, 0, 255));
  if (flag == "--read-rate") o.read_rate = parse_ranged(flag, v, 1, UINT64_MAX);
  if (flag == "--read-block") o.read_block = parse_ranged(flag, v, 1, kMaxReadBlock);
  if (flag == "--answer-delay-ms") o.answer_delay_ms = parse_ranged(flag, v, 0, 3600 * 1000);
}

void set_switch(Options& o, const std::string& flag) {
  if (flag == "--hang") o.hang = true;
  if (flag == "--hang-after-load") o.hang_after_load = true;
  if (flag == "--garbage") o.garbage = true;
  if (flag == "--wrong-sha") o.wrong_sha = true;
  if (flag == "--wrong-bytes") o.wrong_bytes = true;
  if (flag == "--upper-sha") o.upper_sha = true;
  if (flag == "--discard") o.discard = true;
  if (flag == "--ignore-sigterm") o.ignore_sigterm = true;
  if (flag == "--spawn-helper") o.spawn_helper = true;
}

[[noreturn]] void print_help() {
  ssize_t ignored = ::write(1, kUsage, sizeof kUsage - 1);
  (void)ignored;
  std::_Exit(0);
}

// Accepts both "--flag value" and "--flag=value"; returns the next index.
int apply_arg(Options& opts, int argc, char** argv, int i) {
  std::string arg = argv[i];
  if (arg == "--help" || arg == "-h") print_help();
  std::string name = arg, value;
  bool inline_value = false;
  if (size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
    name = arg.substr(0, eq);
    value = arg.substr(eq + 1);
    inline_value = true;
  }
  if (is_one_of(name, kSwitchFlags)) {
    if (inline_value) usage_error("flag " + name + " takes no value");
    set_switch(opts, name);
    return i + 1;
  }
  if (!is_one_of(name, kValueFlags)) usage_error("unknown flag: " + arg);
  if (!inline_value) {
    if (i + 1 >= argc) usage_error("flag " + name + " needs a value");
    value = argv[++i];
  }
  set_value(opts, name, value);
  return i + 1;
}

std::string opt_text(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "off"; }

}  // namespace

const char* header_name(HeaderKind kind) { return kind == HeaderKind::U64 ? "u64" : "u32"; }

Options parse_options(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc;) i = apply_arg(opts, argc, argv, i);
  // The daemon names the width it writes (docs/native-protocol.md); the flag, when given, wins.
  const char* env_header = std::getenv("FEEDER_HEADER");
  if (opts.header_source == "default" && env_header != nullptr) {
    opts.header = parse_header("FEEDER_HEADER", env_header);
    opts.header_source = "FEEDER_HEADER";
  }
  return opts;
}

std::string describe(const Options& o) {
  std::string s = std::string("header=") + header_name(o.header) + " (" + o.header_source + ")";
  s += " read_block=" + std::to_string(o.read_block);
  s += " read_rate=" + opt_text(o.read_rate);
  s += " answer_delay_ms=" + std::to_string(o.answer_delay_ms);
  s += " crash_after_bytes=" + opt_text(o.crash_after_bytes);
  s += " exit_after_bytes=" + opt_text(o.exit_after_bytes);
  s += " exit_code=" + (o.exit_code ? std::to_string(*o.exit_code) : std::string("off"));
  const std::pair<const char*, bool> bools[] = {
      {"hang", o.hang},           {"hang_after_load", o.hang_after_load},
      {"garbage", o.garbage},     {"wrong_sha", o.wrong_sha},
      {"wrong_bytes", o.wrong_bytes}, {"upper_sha", o.upper_sha}, {"discard", o.discard},
      {"ignore_sigterm", o.ignore_sigterm}, {"spawn_helper", o.spawn_helper},
  };
  for (const auto& [name, on] : bools) s += std::string(" ") + name + "=" + (on ? "true" : "false");
  return s;
}

}  // namespace stub
