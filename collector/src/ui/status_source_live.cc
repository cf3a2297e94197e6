#include "src/ui/status_source_live.h"

#include <unordered_map>

namespace portwatch::collector::ui {

FleetView LiveStatusSource::Fleet(int64_t now_unix_ms, size_t aggregate_limit) const {
  FleetView v;
  v.now_unix_ms = now_unix_ms;
  std::unordered_map<std::string, HostView> views;
  for (HostView& h : fleet_.SnapshotAt(now_unix_ms)) views.emplace(h.host, std::move(h));
  std::vector<analysis::HostStatus> all = drift_.AllHosts(now_unix_ms);
  v.hosts.reserve(all.size());
  for (analysis::HostStatus& st : all) {
    HostRow row;
    // The fleet view shows one line per host: drop the detail lists early.
    st.destinations.clear();
    st.processes.clear();
    row.status = std::move(st);
    if (auto it = views.find(row.status.host); it != views.end()) {
      row.os_version = it->second.hello.os_version;
      row.agent_version = it->second.hello.agent_version;
    }
    v.hosts.push_back(std::move(row));
  }
  v.state_counts = drift_.StateCounts();
  v.destinations = drift_.Destinations(aggregate_limit);
  v.processes = drift_.Processes(aggregate_limit);
  return v;
}

std::optional<HostDetailView> LiveStatusSource::Host(const std::string& name,
                                                     int64_t now_unix_ms) const {
  auto st = drift_.Host(name, now_unix_ms);
  if (!st) return std::nullopt;
  HostDetailView d;
  d.row.status = std::move(*st);
  if (std::optional<HostView> view = fleet_.Host(name)) {
    d.row.os_version = view->hello.os_version;
    d.row.agent_version = view->hello.agent_version;
    d.has_config = view->has_config;
    d.config = std::move(view->config);
    d.config_collected_unix_ms = view->config_collected_unix_ms;
    d.has_report = view->has_report;
    d.last_report = std::move(view->last_report);
  }
  return d;
}

std::vector<HistoryPoint> LiveStatusSource::History(const std::string& name, size_t limit,
                                                    std::string* error) const {
  if (!history_) {
    if (error) *error = "the report history is not readable (no database connection)";
    return {};
  }
  auto rows = history_->Newest(name, limit);
  if (!rows.ok()) {
    if (error) *error = rows.error();
    return {};
  }
  return std::move(*rows);
}

}  // namespace portwatch::collector::ui
