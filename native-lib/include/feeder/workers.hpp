// Requests answered by several threads at once: one reader queues the frames,
// `workers` threads take them in turn and write each answer whole as soon as it
// is done, so answers may leave in another order than their requests came
// (docs/native-protocol.md allows it: the daemon matches them by request_id).
#pragma once

#include <functional>

#include "feeder/serve.hpp"

namespace feeder {

// Runs `start_worker` first on each worker thread (per-thread settings, such as a
// runtime's intra-op thread count), then answers requests until stdin closes and
// every queued request is answered; then exits kExitOk. An exception escaping
// `answer` is an internal error (kExitInternal).
[[noreturn]] void serve_requests_in_parallel(int workers, const std::function<void()>& start_worker,
                                             const Answer& answer);

}  // namespace feeder
