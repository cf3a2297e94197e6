#include "src/fleet_metrics.h"

#include <string>

namespace portwatch::collector {
namespace {

prometheus::MetricFamily NewFamily(const std::string& name, const std::string& help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

prometheus::ClientMetric& AddSample(prometheus::MetricFamily& f,
                                    std::vector<prometheus::ClientMetric::Label> labels,
                                    double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f.metric.back();
}

const char* OsName(OsKind os) {
  switch (os) {
    case OsKind::kLinux: return "linux";
    case OsKind::kWindows: return "windows";
    case OsKind::kUnknown: break;
  }
  return "unknown";
}

}  // namespace

std::vector<prometheus::MetricFamily> RenderFleet(const std::vector<HostView>& hosts) {
  using prometheus::MetricType;
  auto info = NewFamily("portwatch_host_info", "Agent facts per host; value is always 1",
                     MetricType::Gauge);
  auto sockets = NewFamily("portwatch_host_sockets",
                        "TCP sockets on the host by address family and state (bound = bound "
                        "but never connected)",
                        MetricType::Gauge);
  auto in_use = NewFamily("portwatch_host_ephemeral_ports_in_use",
                       "Distinct ports of the usable ephemeral range held by any TCP socket",
                       MetricType::Gauge);
  auto usable = NewFamily("portwatch_host_ephemeral_ports_usable",
                       "Ports of the ephemeral range the OS can hand out (range minus reserved)",
                       MetricType::Gauge);
  auto util = NewFamily("portwatch_host_ephemeral_port_utilization_ratio",
                     "Share of the usable ephemeral ports held, 0 to 1", MetricType::Gauge);
  auto range_low = NewFamily("portwatch_host_ephemeral_range_low",
                          "First port of the ephemeral range", MetricType::Gauge);
  auto range_high = NewFamily("portwatch_host_ephemeral_range_high",
                           "Last port of the ephemeral range", MetricType::Gauge);
  auto last_report = NewFamily("portwatch_host_last_report_timestamp_seconds",
                            "Unix time the collector stored the host's latest report",
                            MetricType::Gauge);
  auto reports = NewFamily("portwatch_host_reports_total",
                        "Reports stored for the host (kept across collector restarts)",
                        MetricType::Counter);
  auto dropped = NewFamily("portwatch_host_agent_reports_dropped_total",
                        "Reports the host's agents dropped unsent (spool bound reached), over all "
                        "agent instances",
                        MetricType::Counter);
  auto pending = NewFamily("portwatch_host_agent_reports_pending",
                        "Reports waiting in the agent for acknowledgement, as last reported",
                        MetricType::Gauge);
  auto scan = NewFamily("portwatch_host_agent_scan_duration_seconds",
                     "How long the agent's last socket table scan took", MetricType::Gauge);

  for (const HostView& h : hosts) {
    AddSample(info,
              {{"host", h.host},
               {"os", OsName(h.hello.os)},
               {"os_version", h.hello.os_version},
               {"agent_version", h.hello.agent_version}},
              1);
    if (!h.has_report) continue;
    const SocketSummary& s = h.last_report.sockets;
    for (int f = 0; f < kFamilyCount; ++f) {
      for (int st = 1; st < kTcpStateCount; ++st) {
        AddSample(sockets,
                  {{"host", h.host},
                   {"family", std::string(FamilyName(static_cast<Family>(f)))},
                   {"state", std::string(TcpStateName(static_cast<TcpState>(st)))}},
                  s.counts[f][st]);
      }
    }
    AddSample(in_use, {{"host", h.host}}, s.ephemeral_ports_in_use);
    AddSample(usable, {{"host", h.host}}, s.ephemeral_ports_usable);
    AddSample(util, {{"host", h.host}}, s.ephemeral_utilization());
    AddSample(range_low, {{"host", h.host}}, s.ephemeral_range.low);
    AddSample(range_high, {{"host", h.host}}, s.ephemeral_range.high);
    AddSample(last_report, {{"host", h.host}}, h.last_seen_unix_ms / 1000.0);
    AddSample(reports, {{"host", h.host}}, static_cast<double>(h.reports_total));
    AddSample(dropped, {{"host", h.host}}, static_cast<double>(h.agent_reports_dropped_total));
    AddSample(pending, {{"host", h.host}}, h.last_report.health.reports_pending);
    AddSample(scan, {{"host", h.host}}, h.last_report.health.scan_duration_us / 1e6);
  }
  auto hosts_total = NewFamily("portwatch_fleet_hosts", "Hosts known to this collector",
                            MetricType::Gauge);
  AddSample(hosts_total, {}, static_cast<double>(hosts.size()));
  return {std::move(info),  std::move(sockets),     std::move(in_use),      std::move(usable),
          std::move(util),  std::move(range_low),   std::move(range_high),  std::move(last_report),
          std::move(reports), std::move(dropped),   std::move(pending),     std::move(scan),
          std::move(hosts_total)};
}

std::vector<prometheus::MetricFamily> RenderDelivery(const std::vector<HostView>& hosts) {
  using prometheus::MetricType;
  auto silent = NewFamily("portwatch_host_silent",
                          "1 when the host has not been heard from for the collector's "
                          "--silent-after time; silent hosts stay listed",
                          MetricType::Gauge);
  auto duplicates = NewFamily("portwatch_host_reports_duplicate_total",
                              "Reports of the host received again after they were stored "
                              "(acknowledged, not stored twice)",
                              MetricType::Counter);
  auto spool_bytes = NewFamily("portwatch_host_agent_spool_bytes",
                               "Size of the agent's spool of unacknowledged reports, as last "
                               "reported",
                               MetricType::Gauge);
  auto spool_failures = NewFamily("portwatch_host_agent_spool_write_failures_total",
                                  "Reports the agent could not write to its spool disk and kept "
                                  "in memory, since the agent started",
                                  MetricType::Counter);
  auto spool_corrupt = NewFamily("portwatch_host_agent_spool_corrupt_records_total",
                                 "Damaged spool records the agent skipped, since it started",
                                 MetricType::Counter);
  auto silent_hosts = NewFamily("portwatch_fleet_silent_hosts",
                                "Hosts not heard from for the --silent-after time",
                                MetricType::Gauge);
  double silent_count = 0;
  for (const HostView& h : hosts) {
    AddSample(silent, {{"host", h.host}}, h.silent ? 1 : 0);
    silent_count += h.silent ? 1 : 0;
    AddSample(duplicates, {{"host", h.host}}, static_cast<double>(h.reports_duplicate_total));
    if (!h.has_report) continue;
    const AgentHealth& health = h.last_report.health;
    AddSample(spool_bytes, {{"host", h.host}}, static_cast<double>(health.spool_bytes));
    AddSample(spool_failures, {{"host", h.host}},
              static_cast<double>(health.spool_write_failures_total));
    AddSample(spool_corrupt, {{"host", h.host}},
              static_cast<double>(health.spool_corrupt_records_total));
  }
  AddSample(silent_hosts, {}, silent_count);
  return {std::move(silent), std::move(duplicates), std::move(spool_bytes),
          std::move(spool_failures), std::move(spool_corrupt), std::move(silent_hosts)};
}

std::vector<prometheus::MetricFamily> FleetCollectable::Collect() const {
  const std::vector<HostView> hosts = fleet_.Snapshot();
  auto families = RenderFleet(hosts);
  for (auto& f : RenderDelivery(hosts)) families.push_back(std::move(f));
  return families;
}

}  // namespace portwatch::collector
