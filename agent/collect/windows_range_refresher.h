// Keeps a Windows host's port ranges fresh off the sampling path. Reading them takes WMI queries
// and netsh runs (tens of milliseconds when healthy, unbounded when WMI hangs), and they rarely
// change, so one thread of their own reads them now and every interval; a sample only takes the
// latest result and never waits for a read in progress. OS-neutral (the reading is injected), so
// a read that hangs is tested on every OS.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "collect/windows_mapping.h"

namespace portwatch::agent::win {

class RangeRefresher {
 public:
  using ReadFn = std::function<DynamicPorts()>;

  /// Starts the thread, which calls `read` at once and then every `every`.
  RangeRefresher(ReadFn read, std::chrono::milliseconds every);
  /// Stop().
  ~RangeRefresher();
  RangeRefresher(const RangeRefresher&) = delete;
  RangeRefresher& operator=(const RangeRefresher&) = delete;

  /// The latest completed read, or nullopt before the first one completed. Never blocks on a
  /// read in progress.
  std::optional<DynamicPorts> Latest() const;
  /// Waits at most `timeout` for the first read to complete; true once it has.
  bool WaitForFirst(std::chrono::milliseconds timeout) const;
  /// Completed reads so far.
  uint64_t reads() const;
  /// Ends the thread without waiting for a read in progress: a hung read keeps only its own
  /// thread (detached), whose result is then dropped. Returns at once; idempotent.
  void Stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace portwatch::agent::win
