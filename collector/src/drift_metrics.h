// Renders drift analysis as Prometheus metrics at scrape time: every host's state, utilisation
// trend and forecast; forecasts per destination and process only for hosts that are not ok (the
// ones an admin acts on), and fleet-wide aggregates for the top entries, so cardinality stays
// bounded by the fleet size plus small constants.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "src/drift_monitor.h"

namespace portwatch::collector {

class DriftCollectable final : public prometheus::Collectable {
 public:
  explicit DriftCollectable(const DriftMonitor& drift) : drift_(drift) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const DriftMonitor& drift_;
};

}  // namespace portwatch::collector
