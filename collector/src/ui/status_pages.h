// The status page's HTML and JSON, rendered from StatusSource structs. Pure functions (no HTTP,
// no clock, no locks), so they are tested and benchmarked on built data. Every string that came
// from an agent is escaped; pages use no script and no external asset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/ui/status_source.h"

namespace portwatch::collector::ui {

/// Stored reports a host page draws at most (the newest).
inline constexpr size_t kMaxHistoryPoints = 2000;

/// Parses a query string value for FleetQuery; unknown or bad values fall back to defaults.
FleetQuery ParseFleetQuery(const std::string& state, const std::string& name,
                           const std::string& page, const std::string& per_page);

/// `/`: fleet counts by state, filter form, one page of hosts worst first, top destinations and
/// processes.
std::string RenderFleetPage(const FleetView& fleet, const FleetQuery& q);
/// `/host/NAME`: explanation, curves (utilisation with capacity, forecast and its interval;
/// TIME_WAIT and established), destinations, processes, settings, event counters.
std::string RenderHostPage(const HostDetailView& host, const std::vector<HistoryPoint>& history,
                           const std::string& history_error, int64_t now_unix_ms);
/// A page for an unknown host or a bad request (`status` 404/400), saying what to do.
std::string RenderErrorPage(const std::string& title, const std::string& message);

/// `/api/hosts`: {"total": N, "hosts": [HostInfo...]} with the query API's field names.
std::string FleetJson(const FleetView& fleet, const FleetQuery& q);
/// The part of a FleetView the source computes: `matched` and the page of `rows` (already in
/// worst-first order) for `q`, filtered here. For sources that hold every row anyway.
void SelectPage(std::vector<HostRow> rows, const FleetQuery& q, FleetView* out);
/// `/api/host/NAME`: {"info", "destinations", "processes", "config", "history"}.
std::string HostJson(const HostDetailView& host, const std::vector<HistoryPoint>& history);
/// Parses /api/destinations and /api/processes parameters; bad values fall back to defaults.
AggregateQuery ParseAggregateQuery(const std::string& host, const std::string& key,
                                   const std::string& limit);
/// Sums present series (those in their host's latest report) per key, as the fleet analysis
/// does, for the hosts a source selected; keeps keys containing `q.key`; ranks most hosts growing
/// first, then growth, ports and key; keeps at most `q.limit`.
std::vector<analysis::FleetAggregate> SumSeries(
    const std::vector<const std::vector<analysis::SeriesStatus>*>& per_host,
    const AggregateQuery& q);
/// Keeps the (already ranked) aggregates whose key contains `q.key`, at most `q.limit`.
std::vector<analysis::FleetAggregate> FilterAggregates(
    const std::vector<analysis::FleetAggregate>& ranked, const AggregateQuery& q);
/// `/api/destinations`, `/api/processes`: {"items": [FleetAggregate...]}.
std::string AggregatesJson(const std::vector<analysis::FleetAggregate>& items);

}  // namespace portwatch::collector::ui
