// Rebuilding fleet state from the store when the collector starts, so that every host it has
// seen stays listed (and turns silent if it does not come back) with its latest report.
#pragma once

#include <cstddef>

#include "portwatch/status.h"
#include "src/fleet_state.h"
#include "src/store.h"

namespace portwatch::collector {

/// Puts every stored host into `fleet`. A stored report that no longer decodes is skipped with a
/// message on stderr; its host stays listed without it. Returns the number of hosts restored.
Expected<size_t> RestoreFleet(Store& store, FleetState& fleet);

}  // namespace portwatch::collector
