#include "collect/windows_range_refresher.h"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace portwatch::agent::win {

// Shared by the owner and the thread, so a thread left behind in a hung read never touches
// freed memory when the owner is gone.
struct RangeRefresher::State {
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool stopping = false;
  std::optional<DynamicPorts> latest;
  uint64_t reads = 0;
  std::thread thread;
};

RangeRefresher::RangeRefresher(ReadFn read, std::chrono::milliseconds every)
    : state_(std::make_shared<State>()) {
  std::shared_ptr<State> st = state_;
  state_->thread = std::thread([st, read = std::move(read), every] {
    std::unique_lock<std::mutex> lock(st->mu);
    while (!st->stopping) {
      lock.unlock();
      DynamicPorts d = read();  // may hang: nothing else waits for it
      lock.lock();
      if (st->stopping) break;
      st->latest = std::move(d);
      ++st->reads;
      st->cv.notify_all();
      st->cv.wait_for(lock, every, [&] { return st->stopping; });
    }
  });
}

RangeRefresher::~RangeRefresher() { Stop(); }

std::optional<DynamicPorts> RangeRefresher::Latest() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->latest;
}

bool RangeRefresher::WaitForFirst(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->cv.wait_for(lock, timeout,
                             [&] { return state_->latest.has_value() || state_->stopping; }) &&
         state_->latest.has_value();
}

uint64_t RangeRefresher::reads() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->reads;
}

void RangeRefresher::Stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stopping) return;
    state_->stopping = true;
  }
  state_->cv.notify_all();
  // Not joined: the thread may be inside a read that never returns (a hung WMI provider). It
  // holds the shared state and leaves as soon as the read does.
  if (state_->thread.joinable()) state_->thread.detach();
}

}  // namespace portwatch::agent::win
