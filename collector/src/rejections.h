// Every refused input is counted by reason and logged, at most once per reason per interval, so a
// misbehaving fleet cannot flood the log. Input that is accepted after an adjustment (text cut or
// repaired, an agent clock clamped) is counted and logged the same way under its own metric.
// Logged details are escaped (portwatch/text.h): text an agent sent cannot forge log lines.
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
  /// Counts one accepted-but-adjusted input with `what` (snake_case) and logs `detail`.
  void Adjust(const std::string& what, const std::string& detail);
  double count(const std::string& reason) const;
  double adjusted(const std::string& what) const;

 private:
  struct Entry {
    prometheus::Counter* counter = nullptr;
    std::chrono::steady_clock::time_point last_log{};
    uint64_t suppressed = 0;
  };
  void Count(prometheus::Family<prometheus::Counter>& family, std::map<std::string, Entry>& entries,
             const char* verb, const std::string& label, const std::string& value,
             const std::string& detail);
  prometheus::Family<prometheus::Counter>& family_;
  prometheus::Family<prometheus::Counter>& adjusted_family_;
  std::chrono::seconds log_every_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_reason_;
  std::map<std::string, Entry> by_adjustment_;
};

}  // namespace portwatch::collector
