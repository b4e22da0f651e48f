#include "options.hpp"

#include <optional>

namespace ntorch {
namespace {

const char kSynopsis[] =
    "usage: native-torch [flags] < size-header + TorchScript model bytes + msgpack requests\n"
    "\n"
    "Loads the TorchScript module streamed on stdin with libtorch and answers inference\n"
    "requests with its forward() output.\n";

const char kFlagsHelp[] =
    "  --workers N                inference workers sharing the one loaded module, each\n"
    "                             answering a request at a time, so up to N at once and\n"
    "                             answered as each finishes (default FEEDER_WORKERS, else 1)\n"
    "  --threads T                intra-op threads of each worker's forward(), a power\n"
    "                             of 2 up to 32 (default FEEDER_THREADS_PER_WORKER, else 1)\n";

const int kMaxWorkers = 256;
// Elastic's threads_per_allocation limit: a power of 2 up to 32.
const int kMaxThreads = 32;

int threads_value(const feeder::CommandLine& cli, const std::string& from, uint64_t t) {
  if ((t & (t - 1)) != 0) {
    cli.fail("bad value for " + from + ": '" + std::to_string(t) + "' (must be a power of 2 up to " +
             std::to_string(kMaxThreads) + ")");
  }
  return static_cast<int>(t);
}

}  // namespace

Options parse_options(int argc, char** argv) {
  const feeder::CommandLine cli("native-torch", kSynopsis, kFlagsHelp);
  Options opts;
  std::optional<int> workers, threads;
  feeder::FlagSpec flags{
      {"--workers", "--threads"},
      {},
      [&](const std::string& flag, const std::string& value) {
        if (flag == "--workers") workers = static_cast<int>(cli.number(flag, value, 1, kMaxWorkers));
        if (flag == "--threads") threads = threads_value(cli, flag, cli.number(flag, value, 1, kMaxThreads));
      },
      [](const std::string&) {},
  };
  opts.header = cli.parse(argc, argv, flags);
  // The daemon's per-deployment setting comes in the environment; a flag in deploy.args wins.
  const char* kWorkersEnv = "FEEDER_WORKERS";
  const char* kThreadsEnv = "FEEDER_THREADS_PER_WORKER";
  if (!workers) workers = static_cast<int>(cli.number_from_env(kWorkersEnv, 1, kMaxWorkers).value_or(1));
  if (!threads) threads = threads_value(cli, kThreadsEnv, cli.number_from_env(kThreadsEnv, 1, kMaxThreads).value_or(1));
  opts.workers = *workers;
  opts.threads = *threads;
  return opts;
}

std::string describe(const Options& o) {
  return feeder::describe(o.header) + " workers=" + std::to_string(o.workers) +
         " threads=" + std::to_string(o.threads);
}

}  // namespace ntorch
