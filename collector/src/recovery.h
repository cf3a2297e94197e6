// Rebuilding fleet state from the store when the collector starts, so that every host it has
// seen stays listed (and turns silent if it does not come back) with its latest report.
#pragma once

#include <cstddef>

#include "portwatch/status.h"
#include "src/drift_monitor.h"
#include "src/fleet_state.h"
#include "src/store.h"

namespace portwatch::collector {

/// Puts every stored host into `fleet`. A stored report that no longer decodes is skipped with a
/// message on stderr; its host stays listed without it. Returns the number of hosts restored.
Expected<size_t> RestoreFleet(Store& store, FleetState& fleet);

/// How much stored history a restart replays into drift analysis.
struct ReplaySpan {
  /// Replayed report by report, decoded: the analysis's fine rings (the host's buckets, each
  /// detail series' buckets and seasonal ring). 48 h with the default options.
  int64_t full_ms = 0;
  /// Replayed in all: the longest ring, the host's seasonal one (8 days by default). What lies
  /// before the full span is replayed coarse, one sample per seasonal slot (15 min) made from
  /// the stored summary columns (ports, TIME_WAIT, capacity) without decoding a report: the slot
  /// means are all that ring keeps of it.
  int64_t total_ms = 0;
};

/// The spans the analysis options need.
ReplaySpan ReplaySpanFor(const analysis::Options& options);

/// Replays each known host's stored history, oldest first, into drift analysis, so trends,
/// seasonal baselines and states survive a restart: the span of ReplaySpanFor(drift.options())
/// unless `span` says otherwise (benchmarks). The settings in force when the replay begins (the
/// newest stored snapshot before it) are given to the analysis with the first sample, and those
/// in force when the full span begins with its first report, since agents send settings only
/// on change and periodically. Returns the number of reports replayed (coarse ones included);
/// unreadable rows are skipped and counted in the log line.
Expected<size_t> RestoreDrift(Store& store, const FleetState& fleet, DriftMonitor& drift,
                              int64_t now_unix_ms, ReplaySpan span = {});

}  // namespace portwatch::collector
