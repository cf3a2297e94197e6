// Renders the published fleet view (fleet_view.h) as Prometheus metrics at scrape time, instead
// of keeping a Family::Add per host (whose cost and Remove scans grow with the fleet). A scrape
// takes the current view with one pointer copy and never waits for ingest or analysis.
//
// Cardinality is budgeted: every host gets a summary tier of about 20 series (state, sockets by
// state, range use, delivery and agent health, port-trouble events, and its forecast while not
// ok); only "detail hosts" — hosts that are drifting or worse, plus the ok hosts with the
// highest range use, `detail_hosts` of them — also get per-destination, per-process, listener, settings and
// all-counter series. The query API keeps every host's detail. The series set and its size per
// host are documented in the README ("What the metrics say").
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/fleet_view.h"

namespace portwatch::collector {

struct MetricsOptions {
  /// Ok hosts with the highest ephemeral-range use that also get detail series.
  size_t detail_hosts = 20;
  /// Fleet-wide destinations and processes exported.
  size_t fleet_top = 20;
};

class FleetCollectable final : public prometheus::Collectable {
 public:
  FleetCollectable(const ViewPublisher& views, MetricsOptions options = {})
      : views_(views), opts_(options) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const ViewPublisher& views_;
  const MetricsOptions opts_;
  mutable std::atomic<double> last_render_s_{0};
};

/// The same rendering as a pure function of a view, for tests and benchmarks. `now_unix_ms`
/// dates the view's age.
std::vector<prometheus::MetricFamily> RenderFleet(const FleetView& view,
                                                  const MetricsOptions& options,
                                                  int64_t now_unix_ms);

}  // namespace portwatch::collector
