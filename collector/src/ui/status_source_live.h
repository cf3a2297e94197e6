// The status page's source today: fleet state, the drift monitor and a read-only connection to the
// store. This is the one file to re-point when readers move to the view published after each
// batch: implement StatusSource over that view instead.
#pragma once

#include <memory>
#include <string>

#include "src/drift_monitor.h"
#include "src/fleet_state.h"
#include "src/ui/history_reader.h"
#include "src/ui/status_source.h"

namespace portwatch::collector::ui {

class LiveStatusSource final : public StatusSource {
 public:
  /// `history` may be null (no curves: the host page says so).
  LiveStatusSource(const FleetState& fleet, const DriftMonitor& drift,
                   std::unique_ptr<HistoryReader> history)
      : fleet_(fleet), drift_(drift), history_(std::move(history)) {}

  FleetView Fleet(int64_t now_unix_ms, const FleetQuery& query,
                  size_t aggregate_limit) const override;
  std::optional<HostDetailView> Host(const std::string& name, int64_t now_unix_ms) const override;
  std::vector<HistoryPoint> History(const std::string& name, size_t limit,
                                    std::string* error) const override;

 private:
  const FleetState& fleet_;
  const DriftMonitor& drift_;
  std::unique_ptr<HistoryReader> history_;
};

}  // namespace portwatch::collector::ui
