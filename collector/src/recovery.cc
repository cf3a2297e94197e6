#include "src/recovery.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "portwatch/wire.h"

namespace portwatch::collector {
namespace {

// Stored reports are decoded and validated again (a database written by an older collector may
// hold what today's validation refuses), and their agent time is clamped to their receipt time:
// a report dated in the future, stored before ingest clamped such dates, must not freeze its host
// (fleet state keeps the newest report by agent time) after a restart.
Expected<Report> Decode(const std::string& payload, int64_t received_unix_ms) {
  v1::Report wire;
  if (!wire.ParseFromString(payload)) return Status::Error("not a portwatch.v1.Report");
  Expected<Report> r = FromProto(wire);
  if (r.ok() && received_unix_ms > 0 && r->collected_unix_ms > received_unix_ms) {
    r->collected_unix_ms = received_unix_ms;
  }
  return r;
}

// The settings in force when a host's replay starts. Agents send them only on change and
// periodically, so the replayed span may begin after the last snapshot: the newest one stored
// before the span is the one in force. When retention has removed it, the newest snapshot fleet
// state kept stands in (settings rarely change); nullopt when there is none.
Expected<std::optional<ConfigSnapshot>> SettingsAtStart(Store& store, const std::string& host,
                                                        const std::vector<HistoryRow>& rows,
                                                        const ConfigSnapshot* newest) {
  if (rows.empty()) return std::optional<ConfigSnapshot>();
  auto before = store.LatestConfig(host, rows.front().received_unix_ms);
  if (!before.ok()) return before.status();
  if (before->has_value()) {
    Expected<Report> r = Decode((*before)->payload, (*before)->received_unix_ms);
    if (r.ok() && r->has_config) return std::optional<ConfigSnapshot>(std::move(r->config));
  }
  if (newest != nullptr) return std::optional<ConfigSnapshot>(*newest);
  return std::optional<ConfigSnapshot>();
}

}  // namespace

Expected<size_t> RestoreFleet(Store& store, FleetState& fleet) {
  auto hosts = store.LoadHosts();
  if (!hosts.ok()) return hosts.status();
  for (StoredHost& s : *hosts) {
    HostView v;
    v.host = s.host;
    v.hello = std::move(s.hello);
    v.last_seen_unix_ms = s.last_seen_unix_ms;
    v.reports_total = s.reports_total;
    v.reports_duplicate_total = s.duplicates_total;
    v.agent_reports_dropped_total = s.agent_dropped_total;
    if (s.has_report) {
      Expected<Report> report = Decode(s.last_payload, s.last_received_unix_ms);
      if (report.ok()) {
        report->instance_id.clear();
        report->has_config = false;
        report->config = {};
        v.report = std::make_shared<const Report>(std::move(*report));
      } else {
        std::fprintf(stderr,
                     "portwatch-collector: the stored latest report of '%s' cannot be read (%s); "
                     "the host is listed without it until it reports again\n",
                     s.host.c_str(), report.error().c_str());
      }
    }
    // Settings come on change and periodically: the newest stored snapshot stands until then.
    if (!s.last_config_payload.empty()) {
      Expected<Report> with_config = Decode(s.last_config_payload, s.last_config_received_unix_ms);
      if (with_config.ok() && with_config->has_config) {
        v.config = std::make_shared<const ConfigSnapshot>(std::move(with_config->config));
        v.config_collected_unix_ms = with_config->collected_unix_ms;
      }
    }
    fleet.Restore(std::move(v));
  }
  return hosts->size();
}

Expected<size_t> RestoreDrift(Store& store, const FleetState& fleet, DriftMonitor& drift,
                              int64_t now_unix_ms) {
  const analysis::Options& o = drift.options();
  const int64_t span = o.host.bucket_ms * static_cast<int64_t>(o.host.window_buckets);
  size_t replayed = 0, unreadable = 0;
  std::vector<std::pair<std::string, std::shared_ptr<const ConfigSnapshot>>> hosts;
  fleet.ForEach([&](const HostView& h) { hosts.emplace_back(h.host, h.config); });
  for (const auto& [host, newest] : hosts) {
    auto rows = store.History(host, now_unix_ms - span, store.options().max_reports_per_host);
    if (!rows.ok()) return rows.status();
    auto settings = SettingsAtStart(store, host, *rows, newest.get());
    if (!settings.ok()) return settings.status();
    for (const HistoryRow& row : *rows) {
      Expected<Report> report = Decode(row.payload, row.received_unix_ms);
      if (!report.ok()) {
        ++unreadable;
        continue;
      }
      if (drift.OnReport(host, *report, row.received_unix_ms,
                         settings->has_value() ? &**settings : nullptr)) {
        ++replayed;
      }
    }
  }
  if (unreadable > 0) {
    std::fprintf(stderr,
                 "portwatch-collector: %zu stored reports could not be read and were left out of "
                 "drift analysis\n",
                 unreadable);
  }
  return replayed;
}

}  // namespace portwatch::collector
