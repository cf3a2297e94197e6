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

/// One page of the fleet at one moment, with fleet-wide counts.
struct FleetView {
  int64_t now_unix_ms = 0;
  size_t total = 0;            ///< hosts known
  size_t matched = 0;          ///< hosts passing the query's filter
  std::vector<HostRow> hosts;  ///< the query's page of the matched hosts, worst first
  std::array<uint32_t, analysis::kHostStateCount> state_counts{};
  std::vector<analysis::FleetAggregate> destinations;  ///< top across the fleet
  std::vector<analysis::FleetAggregate> processes;
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
  /// processes. Rows need not carry per-destination/process lists.
  virtual FleetView Fleet(int64_t now_unix_ms, const FleetQuery& query,
                          size_t aggregate_limit) const = 0;
  /// One host, or nullopt if the collector never heard of it.
  virtual std::optional<HostDetailView> Host(const std::string& name,
                                             int64_t now_unix_ms) const = 0;
  /// The host's newest stored reports (at most `limit`), oldest first. Empty when there are
  /// none; an unreadable store is an error string in `error` (the page says so) not an abort.
  virtual std::vector<HistoryPoint> History(const std::string& name, size_t limit,
                                            std::string* error) const = 0;
};

}  // namespace portwatch::collector::ui
