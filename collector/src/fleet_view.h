// The fleet as readers see it: an immutable picture published by the state thread after each
// batch of committed reports (fleet_core.h). Readers (the metrics collectable, the query API,
// the status page) take the current view with one pointer copy and read it without any lock;
// ingest and analysis never wait for them. A view and everything it points to never change once
// published; a host that did not change between two views is shared by both.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "portwatch/analysis/fleet_analyzer.h"
#include "portwatch/model.h"

namespace portwatch::collector {

/// One host as of a view: the agent's facts, its latest report and settings, delivery counters
/// and its drift analysis.
struct HostView {
  std::string host;
  AgentHello hello;
  /// The report collected last (a replayed older one does not replace it); null before the
  /// first report.
  std::shared_ptr<const Report> report;
  /// Settings arrive on change and periodically, not with every report: the newest kept here.
  std::shared_ptr<const ConfigSnapshot> config;
  int64_t config_collected_unix_ms = 0;      ///< when the agent sampled `config`
  int64_t last_seen_unix_ms = 0;             ///< collector clock when the last report arrived
  int64_t last_contact_unix_ms = 0;          ///< collector clock of the last hello or report
  uint64_t reports_total = 0;                ///< reports stored (restored from the store at start)
  uint64_t reports_duplicate_total = 0;      ///< reports received again, acknowledged, not stored
  uint64_t agent_reports_dropped_total = 0;  ///< the host's agents' drops, all instances
  /// notAfter (Unix seconds) of the client certificate its latest stream presented; 0 before a
  /// stream since the collector started (it is not stored).
  int64_t certificate_not_after_unix = 0;
  /// Drift analysis. `drift.state` is the one definition of the host's state, silent included.
  analysis::HostSummary drift;
  /// The full description (series, forecasts, explanation); null for a host without reports.
  std::shared_ptr<const analysis::HostStatus> status;

  bool has_report() const { return report != nullptr; }
  bool silent() const { return drift.state == analysis::HostState::kSilent; }
};

/// The whole fleet at one moment.
struct FleetView {
  uint64_t generation = 0;        ///< +1 per publish
  int64_t published_unix_ms = 0;  ///< collector clock when it was published
  std::vector<std::shared_ptr<const HostView>> hosts;  ///< sorted by host name
  /// Every host worst first: exhausted, critical, drifting (soonest forecast first), silent,
  /// then ok hosts by name. Points into `hosts`.
  std::vector<const HostView*> ranked;
  std::array<uint32_t, analysis::kHostStateCount> state_counts{};
  /// Fleet-wide destinations and processes, most hosts growing first (at most kFleetTop).
  std::vector<analysis::FleetAggregate> destinations;
  std::vector<analysis::FleetAggregate> processes;
  /// Reports dated (agent clock) before their host's newest, taken in receipt order.
  uint64_t out_of_order_reports = 0;
  uint64_t events_dropped = 0;  ///< committed events the state queue could not take

  static constexpr size_t kFleetTop = 50;

  /// The host by name, or null.
  const HostView* Find(std::string_view host) const;
  /// Hosts not ok (the start of `ranked`).
  size_t not_ok_count() const;
};

/// Holds the current view. Publish and Current each take a mutex for one pointer copy only.
class ViewPublisher {
 public:
  ViewPublisher() : view_(std::make_shared<const FleetView>()) {}
  void Publish(std::shared_ptr<const FleetView> view);
  std::shared_ptr<const FleetView> Current() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const FleetView> view_;
};

}  // namespace portwatch::collector
