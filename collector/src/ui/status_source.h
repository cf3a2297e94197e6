// What the status page reads: a narrow, read-only view of the fleet as plain structs. The pages
// (status_pages.h) and the JSON API know only this interface, so where the data comes from (today
// fleet state + drift monitor + the store, later the immutable view published after each batch)
// is one adapter file (status_source_live.cc).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "portwatch/analysis/fleet_analyzer.h"
#include "portwatch/analysis/host_analyzer.h"
#include "portwatch/model.h"

namespace portwatch::collector::ui {

/// One host as the fleet view lists it: its analysis plus what its agent says about itself.
struct HostRow {
  analysis::HostStatus status;  ///< destinations/processes may be empty in fleet listings
  std::string os_version;
  std::string agent_version;
};

/// Which hosts a fleet view lists: a filter and one page of the worst-first order.
struct FleetQuery {
  std::string state;      ///< "" all, else a state name ("drifting", ...)
  std::string name;       ///< substring a host name must contain ("" all)
  size_t page = 1;        ///< 1-based
  size_t per_page = 100;  ///< at most kMaxPerPage
};
inline constexpr size_t kMaxPerPage = 1000;

/// True if a host named `name` in `state` passes the query's filter.
bool MatchesQuery(const FleetQuery& q, const std::string& name, analysis::HostState state);

/// Which fleet aggregates /api/destinations and /api/processes return.
struct AggregateQuery {
  std::string host;   ///< substring a host name must contain: sums only those hosts ("" all)
  std::string key;    ///< substring the destination or process must contain ("" all)
  size_t limit = 50;  ///< at most kMaxAggregateLimit
};
inline constexpr size_t kMaxAggregateLimit = 10000;

enum class AggregateKind : uint8_t { kDestinations, kProcesses };

/// One rule one host breaks, as the fleet page lists it.
struct ViolationRow {
  std::string host;
  std::string rule;      ///< the rule's id
  std::string severity;  ///< "critical", "warning" or "info"
  std::string title;
  std::string detail;       ///< the values found ("Tcpip.TcpTimedWaitDelay=240 (default)")
  std::string remediation;  ///< what the rule expects, as the command or value that fixes it
};

/// The policy audit's results in brief: counts by severity and the worst violations.
struct PolicyOverview {
  bool audited = false;  ///< false: no audit runs (the page says nothing of policy)
  std::string origin;    ///< the policy in force
  uint32_t critical = 0;
  uint32_t warning = 0;
  uint32_t info = 0;
  uint32_t hosts = 0;               ///< hosts violating at least one rule
  std::vector<ViolationRow> worst;  ///< critical first, then warning, info; by host, rule
};

/// One page of the fleet at one moment, with fleet-wide counts.
struct FleetView {
  int64_t now_unix_ms = 0;
  size_t total = 0;            ///< hosts known
  size_t matched = 0;          ///< hosts passing the query's filter
  std::vector<HostRow> hosts;  ///< the query's page of the matched hosts, worst first
  std::array<uint32_t, analysis::kHostStateCount> state_counts{};
  std::vector<analysis::FleetAggregate> destinations;  ///< top across the fleet
  std::vector<analysis::FleetAggregate> processes;
  PolicyOverview policy;  ///< `policy.worst` holds at most Fleet()'s `aggregate_limit`
};

/// One host in detail.
struct HostDetailView {
  HostRow row;  ///< with its destinations and processes
  bool has_config = false;
  ConfigSnapshot config;
  int64_t config_collected_unix_ms = 0;
  bool has_report = false;
  Report last_report;  ///< events, listeners, socket counts of the latest report
};

/// One stored report, reduced to the series the host page draws.
struct HistoryPoint {
  int64_t collected_unix_ms = 0;  ///< agent clock, the analysis' time axis
  uint32_t ports_in_use = 0;
  uint32_t ports_usable = 0;
  uint32_t time_wait = 0;
  uint32_t established = 0;
};

/// Read-only access to the fleet for the status page. Implementations must be safe to call from
/// several HTTP threads at once and must never block ingest for long.
class StatusSource {
 public:
  virtual ~StatusSource() = default;
  /// The query's page of hosts, worst first (exhausted, critical, drifting by soonest forecast,
  /// silent, then ok by name), with fleet counts and the top `aggregate_limit` destinations and
  /// processes, and the policy audit's counts with its worst `aggregate_limit` violations. Rows
  /// need not carry per-destination/process lists.
  virtual FleetView Fleet(int64_t now_unix_ms, const FleetQuery& query,
                          size_t aggregate_limit) const = 0;
  /// Destinations or processes summed over the hosts `query` selects, ranked like the fleet's
  /// (most hosts growing first), filtered by key and bounded by its limit.
  virtual std::vector<analysis::FleetAggregate> Aggregates(AggregateKind kind,
                                                           const AggregateQuery& query) const = 0;
  /// One host, or nullopt if the collector never heard of it.
  virtual std::optional<HostDetailView> Host(const std::string& name,
                                             int64_t now_unix_ms) const = 0;
  /// The host's newest stored reports (at most `limit`), oldest first. Empty when there are
  /// none; an unreadable store is an error string in `error` (the page says so) not an abort.
  virtual std::vector<HistoryPoint> History(const std::string& name, size_t limit,
                                            std::string* error) const = 0;
};

}  // namespace portwatch::collector::ui
