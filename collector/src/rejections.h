// Every refused input is counted by reason and logged, at most once per reason per interval, so a
// misbehaving fleet cannot flood the log.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace portwatch::collector {

class Rejections {
 public:
  explicit Rejections(prometheus::Registry& registry,
                      std::chrono::seconds log_every = std::chrono::seconds(10));
  /// Counts one rejection with `reason` (a short snake_case label) and logs `detail`.
  void Reject(const std::string& reason, const std::string& detail);
  double count(const std::string& reason) const;

 private:
  struct Entry {
    prometheus::Counter* counter = nullptr;
    std::chrono::steady_clock::time_point last_log{};
    uint64_t suppressed = 0;
  };
  prometheus::Family<prometheus::Counter>& family_;
  std::chrono::seconds log_every_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_reason_;
};

}  // namespace portwatch::collector
