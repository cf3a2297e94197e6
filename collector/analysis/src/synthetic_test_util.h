// Test-only helpers: synthetic port series fed through a HostAnalyzer, and a trace of the states
// it went through.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "portwatch/analysis/host_analyzer.h"

namespace portwatch::analysis::testing {

inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;
inline constexpr uint32_t kCapacity = 16384;  // Windows' default dynamic range

inline HostSample PortsSample(int64_t unix_ms, double ports, uint32_t capacity = kCapacity) {
  HostSample s;
  s.unix_ms = unix_ms;
  s.ports_usable = capacity;
  s.ports_in_use =
      static_cast<uint32_t>(std::clamp(std::lround(ports), 0L, static_cast<long>(capacity)));
  s.time_wait = s.ports_in_use / 4;
  return s;
}

/// A state change seen while feeding samples.
struct Transition {
  int64_t unix_ms;
  HostState state;
};

/// Feeds samples to one HostAnalyzer and records every state change.
class HostRun {
 public:
  explicit HostRun(Options options = Options()) : options_(std::move(options)) {}

  /// Feeds one sample (received at the sample's own time) and records a state change.
  void Feed(const HostSample& s) {
    Status st = host_.Update(s, s.unix_ms, options_, &ws_);
    if (!st.ok()) ADD_FAILURE() << st.message();
    if (transitions_.empty() || transitions_.back().state != host_.state()) {
      transitions_.push_back({s.unix_ms, host_.state()});
    }
  }

  /// Feeds `ports(t)` every `interval_ms` over [from_ms, to_ms); `after` runs after each sample.
  void Feed(int64_t from_ms, int64_t to_ms, int64_t interval_ms,
            const std::function<double(int64_t)>& ports,
            const std::function<void(int64_t)>& after = nullptr) {
    for (int64_t t = from_ms; t < to_ms; t += interval_ms) {
      Feed(PortsSample(t, ports(t)));
      if (after) after(t);
    }
  }

  /// The first time the host entered `state`, or -1.
  int64_t FirstTime(HostState state) const {
    for (const Transition& t : transitions_) {
      if (t.state == state) return t.unix_ms;
    }
    return -1;
  }
  /// How often the host entered `state`.
  int Entries(HostState state) const {
    int n = 0;
    for (const Transition& t : transitions_) n += t.state == state ? 1 : 0;
    return n;
  }
  std::string History() const {
    std::string out;
    for (const Transition& t : transitions_) {
      out += std::to_string(static_cast<double>(t.unix_ms) / kHour) +
             "h:" + std::string(HostStateName(t.state)) + " ";
    }
    return out;
  }

  HostAnalyzer& host() { return host_; }
  const Options& options() const { return options_; }
  HostStatus Describe(int64_t now_ms) const { return host_.Describe(options_, now_ms); }
  const std::vector<Transition>& transitions() const { return transitions_; }

 private:
  Options options_;
  Workspace ws_;
  HostAnalyzer host_{"web01"};
  std::vector<Transition> transitions_;
};

/// TIME_WAIT by simulation: connections closed at `rate(t)` per second each stay in TIME_WAIT for
/// `tw_s` seconds. Advance it second by second; time_wait() is the count now.
class TimeWaitSim {
 public:
  explicit TimeWaitSim(int tw_s) : closes_(static_cast<size_t>(tw_s), 0.0) {}
  /// Moves one second forward with `rate` closes per second.
  void Second(double rate) {
    sum_ -= closes_[next_];
    closes_[next_] = rate;
    sum_ += rate;
    next_ = (next_ + 1) % closes_.size();
  }
  double time_wait() const { return std::max(0.0, sum_); }

 private:
  std::vector<double> closes_;
  size_t next_ = 0;
  double sum_ = 0;
};

/// Settings of a host with the given OS version (and TcpTimedWaitDelay when > 0).
inline HostSettings SettingsOf(const std::string& os_version, int64_t tw_delay_s = 0) {
  HostSettings s;
  s.known = true;
  s.os_version = os_version;
  s.has_tw_delay = tw_delay_s > 0;
  s.tw_delay_s = tw_delay_s;
  return s;
}

/// A sample whose occupancy is `held` live ports plus `time_wait` TIME_WAIT ones.
inline HostSample ChurnSample(int64_t unix_ms, double held, double time_wait,
                              uint32_t capacity = kCapacity) {
  HostSample s;
  s.unix_ms = unix_ms;
  s.ports_usable = capacity;
  const double total = std::clamp(held + time_wait, 0.0, static_cast<double>(capacity));
  s.ports_in_use = static_cast<uint32_t>(std::lround(total));
  s.time_wait = static_cast<uint32_t>(std::lround(std::min(time_wait, total)));
  return s;
}

/// Gaussian noise with a fixed seed, so every run sees the same series.
class Noise {
 public:
  explicit Noise(double sigma, uint64_t seed = 42) : rng_(seed), dist_(0.0, sigma) {}
  double operator()() { return dist_(rng_); }

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<double> dist_;
};

}  // namespace portwatch::analysis::testing
