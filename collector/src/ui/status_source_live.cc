#include "src/ui/status_source_live.h"

#include <algorithm>

#include "src/ui/status_pages.h"

namespace portwatch::collector::ui {

namespace {

// A host's row as the view holds it; a host known only from its hello has no analysis yet.
HostRow RowOf(const HostView& h, bool with_series) {
  HostRow row;
  if (h.status != nullptr) {
    row.status = *h.status;
  } else {
    row.status.host = h.host;
    row.status.last_seen_ms = h.last_seen_unix_ms;
    row.status.reason = h.silent() ? "no report within the silent-after time" : "no report yet";
  }
  row.status.state = h.drift.state;  // the view's one definition, silent included
  if (!with_series) {
    row.status.destinations.clear();  // one line per host
    row.status.processes.clear();
  }
  row.os_version = h.hello.os_version;
  row.agent_version = h.hello.agent_version;
  return row;
}

// Counts by severity and the worst `limit` violations. The results are sorted by host first;
// a stable sort by severity keeps hosts and rules in order within each severity.
PolicyOverview OverviewOf(const PolicyResults& r, size_t limit) {
  PolicyOverview o;
  o.audited = true;
  o.origin = r.origin;
  std::vector<const policy::Violation*> order;
  order.reserve(r.violations.size());
  const std::string* last_host = nullptr;
  for (const policy::Violation& v : r.violations) {
    switch (v.severity) {
      case policy::Severity::kCritical:
        ++o.critical;
        break;
      case policy::Severity::kWarning:
        ++o.warning;
        break;
      case policy::Severity::kInfo:
        ++o.info;
        break;
    }
    if (last_host == nullptr || *last_host != v.host) ++o.hosts;
    last_host = &v.host;
    order.push_back(&v);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const policy::Violation* a, const policy::Violation* b) {
                     return a->severity > b->severity;
                   });
  if (order.size() > limit) order.resize(limit);
  for (const policy::Violation* v : order) {
    o.worst.push_back({v->host, v->rule_id, policy::SeverityName(v->severity), v->title, v->detail,
                       v->remediation});
  }
  return o;
}

}  // namespace

// Only the page's hosts are copied in full: a fleet of 10,000 costs a scan of the view's
// worst-first order, not 10,000 descriptions.
FleetView LiveStatusSource::Fleet(int64_t now_unix_ms, const FleetQuery& q,
                                  size_t aggregate_limit) const {
  const std::shared_ptr<const collector::FleetView> view = views_.Current();
  FleetView v;
  v.now_unix_ms = now_unix_ms;
  v.total = view->hosts.size();
  const size_t first = (q.page - 1) * q.per_page;
  for (const HostView* h : view->ranked) {
    if (!MatchesQuery(q, h->host, h->drift.state)) continue;
    const size_t i = v.matched++;
    if (i >= first && i < first + q.per_page) v.hosts.push_back(RowOf(*h, false));
  }
  v.state_counts = view->state_counts;
  v.destinations.assign(view->destinations.begin(),
                        view->destinations.begin() +
                            static_cast<std::ptrdiff_t>(
                                std::min(aggregate_limit, view->destinations.size())));
  v.processes.assign(view->processes.begin(),
                     view->processes.begin() +
                         static_cast<std::ptrdiff_t>(
                             std::min(aggregate_limit, view->processes.size())));
  if (policy_ != nullptr) v.policy = OverviewOf(*policy_->Results(), aggregate_limit);
  return v;
}

// The view keeps the fleet's top aggregates ready; a filter, or a longer list than it keeps, is
// summed from the hosts' series: one pass over the view, its cost linear in hosts x series.
std::vector<analysis::FleetAggregate> LiveStatusSource::Aggregates(
    AggregateKind kind, const AggregateQuery& q) const {
  const std::shared_ptr<const collector::FleetView> view = views_.Current();
  const bool destinations = kind == AggregateKind::kDestinations;
  if (q.host.empty() && q.key.empty() && q.limit <= collector::FleetView::kFleetTop) {
    return FilterAggregates(destinations ? view->destinations : view->processes, q);
  }
  std::vector<const std::vector<analysis::SeriesStatus>*> per_host;
  for (const auto& h : view->hosts) {
    if (h->status == nullptr || h->host.find(q.host) == std::string::npos) continue;
    per_host.push_back(destinations ? &h->status->destinations : &h->status->processes);
  }
  return SumSeries(per_host, q);
}

std::optional<HostDetailView> LiveStatusSource::Host(const std::string& name,
                                                     int64_t /*now_unix_ms*/) const {
  const std::shared_ptr<const collector::FleetView> view = views_.Current();
  const HostView* h = view->Find(name);
  if (h == nullptr) return std::nullopt;
  HostDetailView d;
  d.row = RowOf(*h, true);
  if (h->config != nullptr) {
    d.has_config = true;
    d.config = *h->config;
    d.config_collected_unix_ms = h->config_collected_unix_ms;
  }
  if (h->has_report()) {
    d.has_report = true;
    d.last_report = *h->report;
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
