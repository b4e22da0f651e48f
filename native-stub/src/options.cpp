#include "options.hpp"

#include <utility>

namespace stub {
namespace {

const char kSynopsis[] =
    "usage: native-stub [flags] < size-header + model bytes + msgpack requests\n"
    "\n"
    "Stands in for Elastic's pytorch_inference in tests.\n";

const char kFlagsHelp[] =
    "  --crash-after-bytes N      abort() after receiving N model bytes\n"
    "  --exit-after-bytes N       _exit(--exit-code) after receiving N model bytes\n"
    "  --exit-code C              exit code for --exit-after-bytes (default 1);\n"
    "                             alone: exit with C right after start\n"
    "  --read-rate BYTES_PER_SEC  throttle reading of the model bytes\n"
    "  --read-block N             read() size for the model phase (default 1048576)\n"
    "  --answer-delay-ms N        wait N ms before each answer (a slow model)\n"
    "  --workers N                answer up to N requests at once, each as it is done\n"
    "                             (default FEEDER_WORKERS, else 1); with --answer-delay-ms,\n"
    "                             N slow requests take the time of one\n"
    "  --reorder                  answer out of order: hold each answer until the next\n"
    "                             is ready and send that one first (a lone answer goes\n"
    "                             after 200 ms); one worker, whatever FEEDER_WORKERS says\n"
    "  --hang                     stop reading stdin after the size header\n"
    "  --hang-after-load          read the model, never send the loaded frame\n"
    "  --garbage                  send ~64 invalid msgpack bytes instead of the loaded frame\n"
    "  --wrong-sha                report a wrong sha256 in the loaded frame\n"
    "  --wrong-bytes              report bytes + 1 in the loaded frame\n"
    "  --upper-sha                report the (right) sha256 in uppercase hex\n"
    "  --wrong-request-id         answer each inference request with its request_id\n"
    "                             followed by -wrong\n"
    "  --discard                  hash and count model bytes but do not keep them\n"
    "  --ignore-sigterm           ignore SIGTERM (only SIGKILL stops it)\n"
    "  --spawn-helper             fork a sleeping child that only a signal to the\n"
    "                             process group (or its pid) ends\n";

const uint64_t kMaxReadBlock = uint64_t{1} << 30;
const uint64_t kMaxWorkers = 256;

void set_value(const feeder::CommandLine& cli, Options& o, const std::string& flag,
               const std::string& v) {
  if (flag == "--crash-after-bytes") o.crash_after_bytes = cli.number(flag, v);
  if (flag == "--exit-after-bytes") o.exit_after_bytes = cli.number(flag, v);
  if (flag == "--exit-code") o.exit_code = static_cast<int>(cli.number(flag, v, 0, 255));
  if (flag == "--read-rate") o.read_rate = cli.number(flag, v, 1);
  if (flag == "--read-block") o.read_block = cli.number(flag, v, 1, kMaxReadBlock);
  if (flag == "--answer-delay-ms") o.answer_delay_ms = cli.number(flag, v, 0, 3600 * 1000);
}

void set_switch(Options& o, const std::string& flag) {
  if (flag == "--reorder") o.reorder = true;
  if (flag == "--hang") o.hang = true;
  if (flag == "--hang-after-load") o.hang_after_load = true;
  if (flag == "--garbage") o.garbage = true;
  if (flag == "--wrong-sha") o.wrong_sha = true;
  if (flag == "--wrong-bytes") o.wrong_bytes = true;
  if (flag == "--upper-sha") o.upper_sha = true;
  if (flag == "--wrong-request-id") o.wrong_request_id = true;
  if (flag == "--discard") o.discard = true;
  if (flag == "--ignore-sigterm") o.ignore_sigterm = true;
  if (flag == "--spawn-helper") o.spawn_helper = true;
}

std::string opt_text(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "off"; }

}  // namespace

Options parse_options(int argc, char** argv) {
  const feeder::CommandLine cli("native-stub", kSynopsis, kFlagsHelp);
  Options opts;
  std::optional<uint64_t> workers;
  feeder::FlagSpec flags{
      {"--crash-after-bytes", "--exit-after-bytes", "--exit-code", "--read-rate", "--read-block",
       "--answer-delay-ms", "--workers"},
      {"--reorder", "--hang", "--hang-after-load", "--garbage", "--wrong-sha", "--wrong-bytes", "--upper-sha",
       "--wrong-request-id", "--discard", "--ignore-sigterm", "--spawn-helper"},
      [&](const std::string& flag, const std::string& v) {
        if (flag == "--workers") workers = cli.number(flag, v, 1, kMaxWorkers);
        set_value(cli, opts, flag, v);
      },
      [&](const std::string& flag) { set_switch(opts, flag); },
  };
  opts.header = cli.parse(argc, argv, flags);
  if (opts.reorder && workers.value_or(1) > 1) cli.fail("--reorder answers with one worker; got --workers " + std::to_string(*workers));
  // The daemon's per-deployment setting, unless a flag in deploy.args says otherwise; --reorder
  // does, since it answers on one thread whatever the deployment asks.
  if (!workers && !opts.reorder) workers = cli.number_from_env("FEEDER_WORKERS", 1, kMaxWorkers).value_or(1);
  opts.workers = static_cast<int>(workers.value_or(1));
  return opts;
}

std::string describe(const Options& o) {
  std::string s = feeder::describe(o.header);
  s += " read_block=" + std::to_string(o.read_block);
  s += " read_rate=" + opt_text(o.read_rate);
  s += " answer_delay_ms=" + std::to_string(o.answer_delay_ms);
  s += " workers=" + std::to_string(o.workers);
  s += " crash_after_bytes=" + opt_text(o.crash_after_bytes);
  s += " exit_after_bytes=" + opt_text(o.exit_after_bytes);
  s += " exit_code=" + (o.exit_code ? std::to_string(*o.exit_code) : std::string("off"));
  const std::pair<const char*, bool> bools[] = {
      {"reorder", o.reorder}, {"hang", o.hang},           {"hang_after_load", o.hang_after_load},
      {"garbage", o.garbage},     {"wrong_sha", o.wrong_sha},
      {"wrong_bytes", o.wrong_bytes}, {"upper_sha", o.upper_sha}, {"wrong_request_id", o.wrong_request_id}, {"discard", o.discard},
      {"ignore_sigterm", o.ignore_sigterm}, {"spawn_helper", o.spawn_helper},
  };
  for (const auto& [name, on] : bools) s += std::string(" ") + name + "=" + (on ? "true" : "false");
  return s;
}

}  // namespace stub
