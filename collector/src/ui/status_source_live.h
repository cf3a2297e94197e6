// The status page's source: the fleet view published after each batch (fleet_view.h) and a
// read-only connection to the store for the curves. Every request takes the current view with
// one pointer copy and never waits for ingest or analysis.
#pragma once

#include <memory>
#include <string>

#include "src/fleet_view.h"
#include "src/policy_monitor.h"
#include "src/ui/history_reader.h"
#include "src/ui/status_source.h"

namespace portwatch::collector::ui {

class LiveStatusSource final : public StatusSource {
 public:
  /// `history` may be null (no curves: the host page says so); so may `policy` (no audit).
  LiveStatusSource(const ViewPublisher& views, std::unique_ptr<HistoryReader> history,
                   const PolicyMonitor* policy = nullptr)
      : views_(views), history_(std::move(history)), policy_(policy) {}

  FleetView Fleet(int64_t now_unix_ms, const FleetQuery& query,
                  size_t aggregate_limit) const override;
  std::vector<analysis::FleetAggregate> Aggregates(AggregateKind kind,
                                                   const AggregateQuery& query) const override;
  std::optional<HostDetailView> Host(const std::string& name, int64_t now_unix_ms) const override;
  std::vector<HistoryPoint> History(const std::string& name, size_t limit,
                                    std::string* error) const override;

 private:
  const ViewPublisher& views_;
  std::unique_ptr<HistoryReader> history_;
  const PolicyMonitor* policy_;
};

}  // namespace portwatch::collector::ui
