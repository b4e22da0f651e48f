// --reorder: answers out of order on purpose, so that matching answers by
// request_id (the daemon's, the conformance check's) is tested against a real
// process. Each answer is held until the next one is ready, which then goes
// first; an answer that no other follows within the hold goes alone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

#include <msgpack.hpp>

namespace stub {

class Reorderer {
 public:
  explicit Reorderer(std::chrono::milliseconds hold);

  // Holds `frame`, or sends it and then the one held.
  void submit(msgpack::sbuffer frame);

  // Sends the one held, if any: at EOF, before the exit.
  void flush();

 private:
  void release_late();

  const std::chrono::milliseconds hold_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<msgpack::sbuffer> held_;
  uint64_t generation_ = 0;  // counts the answers held, so the timer knows its own
};

}  // namespace stub
