#include "feeder/workers.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "feeder/io.hpp"
#include "feeder/lifetime.hpp"
#include "feeder/log.hpp"

namespace feeder {
namespace {

// Unbounded on purpose: the reader must keep reading while the workers are busy
// (the protocol's rule), and the daemon already bounds what it sends
// (deploy.queueCapacity).
class RequestQueue {
 public:
  void push(msgpack::object_handle&& oh) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(oh));
    }
    ready_.notify_one();
  }

  // False once the queue is closed and empty.
  bool pop(msgpack::object_handle& out) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    out = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }

  void close() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<msgpack::object_handle> queue_;
  bool closed_ = false;
};

void work(RequestQueue& queue, const std::function<void()>& start_worker, const Answer& answer) {
  exit_on_exception([&] {
    start_worker();
    msgpack::object_handle oh;
    while (queue.pop(oh)) send_frame(answer(oh.get()));
  });
}

}  // namespace

void serve_requests_in_parallel(int workers, const std::function<void()>& start_worker,
                                const Answer& answer) {
  RequestQueue queue;
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&] { work(queue, start_worker, answer); });
  }
  read_requests([&](msgpack::object_handle&& oh) { queue.push(std::move(oh)); });
  queue.close();
  // EOF: what was read is still answered before the exit, as the protocol asks.
  for (std::thread& t : threads) t.join();
  log_info("stdin closed, " + std::to_string(workers) + " workers done, exiting");
  exit_with(kExitOk);
}

}  // namespace feeder
