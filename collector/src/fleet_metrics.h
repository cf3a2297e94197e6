// Renders fleet state as Prometheus metrics at scrape time, from one snapshot, instead of keeping a
// Family::Add per host (whose cost and Remove scans grow with the fleet).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <vector>

#include "src/fleet_state.h"

namespace portwatch::collector {

class FleetCollectable final : public prometheus::Collectable {
 public:
  explicit FleetCollectable(const FleetState& fleet) : fleet_(fleet) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const FleetState& fleet_;
};

/// The same rendering as a pure function of a snapshot, for tests.
std::vector<prometheus::MetricFamily> RenderFleet(const std::vector<HostView>& hosts);
/// Delivery health per host: silent hosts, duplicates, the agents' spools.
std::vector<prometheus::MetricFamily> RenderDelivery(const std::vector<HostView>& hosts);

}  // namespace portwatch::collector
