// The fleet simulator's model: which host plays which scenario, and what each host's agent
// would report at a given moment. Pure and deterministic from a seed (no clock, no I/O), so a
// fleet can be replayed exactly and the scenarios are unit-tested.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::sim {

enum class Scenario : uint8_t {
  kHealthy,          ///< a daily cycle around a modest level
  kLeakSlow,         ///< +1% of the range per hour on top of the cycle
  kLeakFast,         ///< +4% per hour
  kLeakDestination,  ///< +2%/h of 4-tuples toward one shared destination
  kLeakProcess,      ///< +2%/h held by one program, the same on every such host
  kTimeWaitStorm,    ///< churn keeps ~90% of a small (4,000-port) range in TIME_WAIT
  kSynFlood,         ///< many half-open inbound connections, SYN cookie counters rising
  kMisconfigured,    ///< TCP settings known to hurt (Windows and Linux shapes), healthy traffic
  kFlapping,         ///< healthy, but its stream is cut and resumed every few reports
  kClockSkew,        ///< healthy, with an agent clock hours off
  kRestart,          ///< healthy, its agent restarts now and then and replays its spool
};
inline constexpr int kScenarioCount = 11;

std::string_view ScenarioName(Scenario s);
/// True for the scenarios whose port use grows without bound (drifting by design).
bool Leaks(Scenario s);

/// Scenario shares, e.g. "healthy=70,leak_slow=10,tw_storm=5". Shares need not sum to 100.
using Mix = std::vector<std::pair<Scenario, double>>;
/// Parses a mix; an unknown name or a bad share is an error naming it and the known names.
Expected<Mix> ParseMix(const std::string& text);

/// One simulated host.
struct HostPlan {
  std::string name;
  Scenario scenario = Scenario::kHealthy;
  OsKind os = OsKind::kLinux;
  uint64_t seed = 0;
};

/// `hosts` hosts named PREFIX-00001..., scenarios in exact proportion to the mix (largest
/// remainder), shuffled deterministically by `seed`.
std::vector<HostPlan> PlanFleet(size_t hosts, const Mix& mix, uint64_t seed,
                                const std::string& prefix);

/// What one host's agent reports. Counters stay monotonic across samples, so samples must be
/// taken in time order.
class HostModel {
 public:
  explicit HostModel(const HostPlan& plan);

  const HostPlan& plan() const { return plan_; }
  AgentHello Hello(const std::string& instance_id, uint32_t interval_ms) const;
  /// The report at `sim_hours` of simulated time since the fleet started, stamped `unix_ms`
  /// (plus this host's clock skew). Settings ride along when `with_config`.
  Report Sample(double sim_hours, int64_t unix_ms, uint64_t sequence, bool with_config);
  /// The agent clock's offset from real time (kClockSkew only).
  int64_t clock_offset_ms() const { return clock_offset_ms_; }
  /// Ephemeral ports the host's range holds (usable capacity).
  uint32_t capacity() const { return capacity_; }

 private:
  double Utilization(double sim_hours);
  ConfigSnapshot Config() const;

  HostPlan plan_;
  std::mt19937_64 rng_;
  PortRange range_;
  uint32_t capacity_ = 0;
  double base_ = 0, amplitude_ = 0, phase_h_ = 0;
  int64_t clock_offset_ms_ = 0;
  double last_hours_ = 0;
  double active_opens_ = 0, syncookies_ = 0, listen_overflows_ = 0, tw_events_ = 0;
};

}  // namespace portwatch::sim
