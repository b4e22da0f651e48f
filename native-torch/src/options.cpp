#include "options.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ntorch {
namespace {

const char kUsage[] =
    "usage: native-torch [flags] < size-header + TorchScript model bytes + msgpack requests\n"
    "\n"
    "Loads the TorchScript module streamed on stdin with libtorch and answers inference\n"
    "requests with its forward() output.\n"
    "\n"
    "flags:\n"
    "  --header u32|u64   size header width, big-endian; overrides the environment\n"
    "                     variable FEEDER_HEADER (default u32)\n"
    "  --threads N        intra-op threads per forward() (default 1)\n"
    "  --help             print this help and exit\n";

const int kMaxThreads = 1024;

[[noreturn]] void usage_error(const std::string& what) {
  std::string msg = "native-torch: " + what + "\n\n" + kUsage;
  ssize_t ignored = ::write(2, msg.data(), msg.size());
  (void)ignored;
  std::_Exit(2);
}

[[noreturn]] void print_help() {
  ssize_t ignored = ::write(1, kUsage, sizeof kUsage - 1);
  (void)ignored;
  std::_Exit(0);
}

HeaderKind parse_header(const std::string& where, const std::string& text) {
  if (text == "u32") return HeaderKind::U32;
  if (text == "u64") return HeaderKind::U64;
  usage_error("bad value for " + where + ": '" + text + "' (must be u32 or u64)");
}

// Strict: digits only, so "-1", "2x" or "" are refused rather than wrapped.
int parse_threads(const std::string& text) {
  bool digits = !text.empty() && text.size() <= 6 &&
                text.find_first_not_of("0123456789") == std::string::npos;
  long v = digits ? std::strtol(text.c_str(), nullptr, 10) : 0;
  if (!digits || v < 1 || v > kMaxThreads) {
    usage_error("bad value for --threads: '" + text + "' (must be 1.." +
                std::to_string(kMaxThreads) + ")");
  }
  return static_cast<int>(v);
}

void set_value(Options& o, const std::string& flag, const std::string& value) {
  if (flag == "--header") {
    o.header = parse_header(flag, value);
    o.header_source = "--header";
  } else if (flag == "--threads") {
    o.threads = parse_threads(value);
  } else {
    usage_error("unknown flag: " + flag);
  }
}

// Accepts both "--flag value" and "--flag=value"; returns the next index.
int apply_arg(Options& opts, int argc, char** argv, int i) {
  std::string arg = argv[i];
  if (arg == "--help" || arg == "-h") print_help();
  std::string name = arg, value;
  size_t eq = arg.find('=');
  if (eq != std::string::npos && arg.rfind("--", 0) == 0) {
    name = arg.substr(0, eq);
    value = arg.substr(eq + 1);
  } else {
    if (name != "--header" && name != "--threads") usage_error("unknown flag: " + arg);
    if (i + 1 >= argc) usage_error("flag " + name + " needs a value");
    value = argv[++i];
  }
  set_value(opts, name, value);
  return i + 1;
}

}  // namespace

const char* header_name(HeaderKind kind) { return kind == HeaderKind::U64 ? "u64" : "u32"; }

Options parse_options(int argc, char** argv) {
  Options opts;
  if (const char* env = std::getenv("FEEDER_HEADER"); env != nullptr && *env != '\0') {
    opts.header = parse_header("FEEDER_HEADER", env);
    opts.header_source = "FEEDER_HEADER";
  }
  for (int i = 1; i < argc;) i = apply_arg(opts, argc, argv, i);
  return opts;
}

std::string describe(const Options& o) {
  return std::string("header=") + header_name(o.header) + " (from " + o.header_source + ")" +
         " threads=" + std::to_string(o.threads);
}

}  // namespace ntorch
