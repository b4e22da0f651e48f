#include "options.hpp"

namespace ntorch {
namespace {

const char kSynopsis[] =
    "usage: native-torch [flags] < size-header + TorchScript model bytes + msgpack requests\n"
    "\n"
    "Loads the TorchScript module streamed on stdin with libtorch and answers inference\n"
    "requests with its forward() output.\n";

const char kFlagsHelp[] =
    "  --threads N                intra-op threads per forward() (default 1)\n";

const int kMaxThreads = 1024;

}  // namespace

Options parse_options(int argc, char** argv) {
  const feeder::CommandLine cli("native-torch", kSynopsis, kFlagsHelp);
  Options opts;
  feeder::FlagSpec flags{
      {"--threads"},
      {},
      [&](const std::string& flag, const std::string& value) {
        opts.threads = static_cast<int>(cli.number(flag, value, 1, kMaxThreads));
      },
      [](const std::string&) {},
  };
  opts.header = cli.parse(argc, argv, flags);
  return opts;
}

std::string describe(const Options& o) {
  return feeder::describe(o.header) + " threads=" + std::to_string(o.threads);
}

}  // namespace ntorch
