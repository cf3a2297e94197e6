// Fleet state: the latest of everything each host has reported. Written by ingest (through the
// store writer, after a report is stored), read by the metrics collectable (and later the query
// API) as copied snapshots, so a scrape never holds the lock while rendering. Rebuilt from the
// store at start, so hosts stay listed across collector restarts.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "portwatch/model.h"

namespace portwatch::collector {

struct HostView {
  std::string host;
  AgentHello hello;
  bool has_report = false;
  Report last_report;  ///< the report collected last (a replayed older one does not
                       ///< replace it)
  /// Settings arrive on change and periodically, not with every report: the newest kept here.
  bool has_config = false;
  ConfigSnapshot config;
  int64_t config_collected_unix_ms = 0;      ///< when the agent sampled `config`
  int64_t last_seen_unix_ms = 0;             ///< collector clock when the last report arrived
  uint64_t reports_total = 0;                ///< reports stored (restored from the store at start)
  uint64_t reports_duplicate_total = 0;      ///< reports received again, acknowledged, not stored
  uint64_t agent_reports_dropped_total = 0;  ///< the host's agents' drops, all instances
  int64_t last_contact_unix_ms = 0;          ///< last hello or report
  bool silent = false;  ///< in a snapshot: no contact for longer than the silent-after time
};

class FleetState {
 public:
  /// A host that has not been heard from for `silent_after_ms` is marked silent in snapshots.
  explicit FleetState(int64_t silent_after_ms = 5 * 60 * 1000)
      : silent_after_ms_(silent_after_ms) {}

  /// Records a stream's hello for `host` (identity already checked against the certificate).
  void OnHello(const std::string& host, const AgentHello& hello, int64_t now_unix_ms = 0);
  /// Records a stored report. Returns false if `host` said no hello first. A report collected
  /// before the one held (a replay after an outage) is counted but does not replace it.
  bool OnReport(const std::string& host, const Report& report, int64_t now_unix_ms);
  /// A report that was stored before arrived again: counted; the host is alive.
  void OnDuplicate(const std::string& host, int64_t now_unix_ms);
  /// The host's agents' dropped reports summed over their instances, as the store keeps it.
  void SetAgentReportsDropped(const std::string& host, uint64_t total);
  /// Puts back a host as the store remembers it (at start, before ingest opens).
  void Restore(HostView view);

  /// Copies of every host, `silent` computed against the current time.
  std::vector<HostView> Snapshot() const;
  std::vector<HostView> SnapshotAt(int64_t now_unix_ms) const;
  /// A copy of one host, `silent` computed against the current time; nullopt if unknown.
  std::optional<HostView> Host(const std::string& host) const;
  size_t host_count() const;
  int64_t silent_after_ms() const { return silent_after_ms_; }

 private:
  const int64_t silent_after_ms_;
  mutable std::mutex mu_;
  std::map<std::string, HostView> hosts_;
};

}  // namespace portwatch::collector
