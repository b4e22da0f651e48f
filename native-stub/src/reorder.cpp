#include "reorder.hpp"

#include <thread>

#include "feeder/serve.hpp"

namespace stub {

Reorderer::Reorderer(std::chrono::milliseconds hold) : hold_(hold) {
  // Detached: the process ends with _exit, which no thread outlives.
  std::thread([this] { release_late(); }).detach();
}

void Reorderer::submit(msgpack::sbuffer frame) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (!held_) {
    held_.emplace(std::move(frame));
    ++generation_;
    changed_.notify_all();
    return;
  }
  feeder::send_frame(frame);
  feeder::send_frame(*held_);
  held_.reset();
}

void Reorderer::flush() {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (held_) feeder::send_frame(*held_);
  held_.reset();
}

// A lone request must still be answered, or a caller that waits for each answer
// before the next request would wait forever.
void Reorderer::release_late() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return held_.has_value(); });
    const uint64_t mine = generation_;
    bool replaced = changed_.wait_for(lock, hold_, [&] { return !held_ || generation_ != mine; });
    if (!replaced && held_) {
      feeder::send_frame(*held_);
      held_.reset();
    }
  }
}

}  // namespace stub
