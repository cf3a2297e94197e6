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

/// Replays each known host's stored history, oldest first, into drift analysis, so trends and
/// states survive a restart. Only the span the analysis windows can hold is read. The settings
/// in force when the span begins (the newest stored snapshot before it) are given to the
/// analysis with the first replayed report, since agents send settings only on change and
/// periodically. Returns the number of reports replayed; unreadable rows are skipped and counted
/// in the log line.
Expected<size_t> RestoreDrift(Store& store, const FleetState& fleet, DriftMonitor& drift,
                              int64_t now_unix_ms);

}  // namespace portwatch::collector
