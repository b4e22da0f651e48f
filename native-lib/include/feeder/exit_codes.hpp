// The exit codes of every native process, in one place: the daemon reports them
// and docs/native-protocol.md lists them.
#pragma once

namespace feeder {

enum ExitCode : int {
  kExitOk = 0,            // stdin closed in the request phase; --help
  kExitUsage = 2,         // a bad flag, or a bad FEEDER_HEADER
  kExitShortStream = 3,   // stdin ended inside the size header or the model bytes
  kExitBadMsgpack = 4,    // the request stream is not valid MessagePack
  kExitStdoutFailed = 5,  // writing to stdout failed
  kExitInternal = 6,      // anything else the process cannot go on from
  kExitParentGone = 7,    // the parent had exited before the parent-death signal was in place
  kExitBadModel = 8,      // the bytes are not a model the runtime can serve (native-torch)
};

}  // namespace feeder
