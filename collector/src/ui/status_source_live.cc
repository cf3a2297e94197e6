#include "src/ui/status_source_live.h"

#include <algorithm>

#include "src/ui/status_pages.h"

namespace portwatch::collector::ui {

// Only the page's hosts are described in full and only their agent facts copied: a fleet of
// 10,000 costs a scan of cheap summaries, not 10,000 descriptions under the analysis lock.
FleetView LiveStatusSource::Fleet(int64_t now_unix_ms, const FleetQuery& q,
                                  size_t aggregate_limit) const {
  using analysis::HostState;
  FleetView v;
  v.now_unix_ms = now_unix_ms;
  std::vector<std::string> ok;
  size_t troubled = 0;
  for (const DriftSummary& s : drift_.Summaries()) {
    ++v.total;
    if (s.summary.state != HostState::kOk)
      ++troubled;
    else if (MatchesQuery(q, s.host, HostState::kOk))
      ok.push_back(s.host);
  }
  std::sort(ok.begin(), ok.end());
  std::vector<analysis::HostStatus> worst;
  if (troubled > 0 && q.state != "ok") worst = drift_.Worst(troubled, now_unix_ms);
  const size_t first = (q.page - 1) * q.per_page;
  std::vector<analysis::HostStatus> page;
  for (analysis::HostStatus& st : worst) {
    if (!MatchesQuery(q, st.host, st.state)) continue;
    const size_t i = v.matched++;
    if (i >= first && i < first + q.per_page) page.push_back(std::move(st));
  }
  for (const std::string& name : ok) {
    const size_t i = v.matched++;
    if (i < first || i >= first + q.per_page) continue;
    if (auto st = drift_.Host(name, now_unix_ms)) page.push_back(std::move(*st));
  }
  for (analysis::HostStatus& st : page) {
    HostRow row;
    st.destinations.clear();  // one line per host
    st.processes.clear();
    row.status = std::move(st);
    if (std::optional<HostView> view = fleet_.Host(row.status.host)) {
      row.os_version = view->hello.os_version;
      row.agent_version = view->hello.agent_version;
    }
    v.hosts.push_back(std::move(row));
  }
  v.state_counts = drift_.StateCounts();
  if (aggregate_limit > 0) {
    v.destinations = drift_.Destinations(aggregate_limit);
    v.processes = drift_.Processes(aggregate_limit);
  }
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
