#include "src/recovery.h"

#include <algorithm>
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

// The settings in force at `start_unix_ms` (receipt time). Agents send them only on change and
// periodically, so a replayed span may begin after the last snapshot: the newest one stored
// before it is the one in force. The store keeps each host's newest on its host row whatever
// retention pruned; when even that came later, the newest snapshot fleet state kept stands in
// (settings rarely change); nullopt when there is none.
Expected<std::optional<ConfigSnapshot>> SettingsAt(Store& store, const std::string& host,
                                                   int64_t start_unix_ms,
                                                   const ConfigSnapshot* newest) {
  auto before = store.LatestConfig(host, start_unix_ms);
  if (!before.ok()) return before.status();
  if (before->has_value()) {
    Expected<Report> r = Decode((*before)->payload, (*before)->received_unix_ms);
    if (r.ok() && r->has_config) return std::optional<ConfigSnapshot>(std::move(r->config));
  }
  if (newest != nullptr) return std::optional<ConfigSnapshot>(*newest);
  return std::optional<ConfigSnapshot>();
}

int64_t RingSpan(const analysis::SeriesOptions& s) {
  return std::max(s.bucket_ms * static_cast<int64_t>(s.window_buckets),
                  s.season_slot_ms * static_cast<int64_t>(s.season_slots));
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

ReplaySpan ReplaySpanFor(const analysis::Options& o) {
  ReplaySpan span;
  // Everything but the host's seasonal ring needs each report whole (destinations, processes,
  // counters, settings); that ring keeps only slot means of the host's ports.
  span.full_ms =
      std::max(o.host.bucket_ms * static_cast<int64_t>(o.host.window_buckets), RingSpan(o.detail));
  span.total_ms = std::max(span.full_ms, RingSpan(o.host));
  return span;
}

Expected<size_t> RestoreDrift(Store& store, const FleetState& fleet, DriftMonitor& drift,
                              int64_t now_unix_ms, ReplaySpan span) {
  const analysis::Options& o = drift.options();
  const ReplaySpan need = ReplaySpanFor(o);
  if (span.full_ms <= 0) span.full_ms = need.full_ms;
  if (span.total_ms <= 0) span.total_ms = need.total_ms;
  const int64_t full_start = now_unix_ms - span.full_ms;
  const int64_t coarse_start = std::min(full_start, now_unix_ms - span.total_ms);
  size_t replayed = 0, unreadable = 0;
  std::vector<std::pair<std::string, std::shared_ptr<const ConfigSnapshot>>> hosts;
  fleet.ForEach([&](const HostView& h) { hosts.emplace_back(h.host, h.config); });
  for (const auto& [host, newest] : hosts) {
    // One sample per seasonal slot: the slot mean is all that ring keeps, and what the bucket
    // ring and the fit make of the older days is replaced by the whole reports of the last 48 h.
    // (Per host bucket it cost 10 times the samples, each closing a bucket and refitting.)
    auto coarse = store.CoarseHistory(host, coarse_start, full_start,
                                      std::min(o.host.season_slot_ms, o.gap_reset_ms / 2));
    if (!coarse.ok()) return coarse.status();
    auto rows = store.History(host, full_start, store.options().max_reports_per_host);
    if (!rows.ok()) return rows.status();
    if (coarse->empty() && rows->empty()) continue;
    const int64_t first =
        coarse->empty() ? rows->front().received_unix_ms : coarse->front().received_unix_ms;
    auto settings = SettingsAt(store, host, first, newest.get());
    if (!settings.ok()) return settings.status();
    for (const CoarseRow& row : *coarse) {
      analysis::HostSample sample;
      sample.unix_ms = row.collected_unix_ms;
      sample.ports_in_use = row.ports_in_use;
      sample.ports_usable = row.ports_usable;
      sample.time_wait = row.time_wait;
      if (drift.OnSample(host, std::move(sample), row.received_unix_ms,
                         settings->has_value() ? &**settings : nullptr)) {
        replayed += row.reports;
      }
    }
    // Coarse samples carry no settings: a change during the coarse span is made good here.
    std::optional<ConfigSnapshot> at_full;
    if (!coarse->empty() && !rows->empty()) {
      auto s = SettingsAt(store, host, rows->front().received_unix_ms, newest.get());
      if (!s.ok()) return s.status();
      at_full = std::move(*s);
    }
    for (const HistoryRow& row : *rows) {
      Expected<Report> report = Decode(row.payload, row.received_unix_ms);
      if (!report.ok()) {
        ++unreadable;
        continue;
      }
      if (at_full.has_value() && !report->has_config) {
        report->has_config = true;
        report->config = *at_full;
      }
      at_full.reset();
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
