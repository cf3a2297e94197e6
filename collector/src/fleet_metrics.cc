#include "src/fleet_metrics.h"

#include <string>

#include "src/metric_families.h"

namespace portwatch::collector {
namespace {

const char* OsName(OsKind os) {
  switch (os) {
    case OsKind::kLinux: return "linux";
    case OsKind::kWindows: return "windows";
    case OsKind::kUnknown: break;
  }
  return "unknown";
}

// Per-host detail from the agent's bounded top-K lists, its settings and its kernel counters.
// Cardinality stays bounded: an agent sends at most K destinations and processes, a fixed set of
// settings and counters, and the wire layer refuses longer lists.
struct HostDetailFamilies {
  prometheus::MetricFamily dest_ports = NewFamily(
      "portwatch_host_destination_local_ports",
      "Distinct local ports in use toward a remote endpoint (its 4-tuple use), top-K per host",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily dest_pressure = NewFamily(
      "portwatch_host_destination_pressure_ratio",
      "Local ports in use toward a remote endpoint over the usable ephemeral ports, top-K per host",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily dest_conns = NewFamily(
      "portwatch_host_destination_connections",
      "Connections toward a remote endpoint from ephemeral ports, by state, top-K per host",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily proc_ports = NewFamily(
      "portwatch_host_process_ephemeral_ports",
      "Ephemeral ports held by a process, top-K per host (process=(unattributed) for sockets "
      "whose owner could not be read)",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily proc_sockets = NewFamily(
      "portwatch_host_process_sockets", "TCP sockets of a process by state, top-K per host",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily listener_queue = NewFamily(
      "portwatch_host_listener_accept_queue",
      "Connections waiting in a listener's accept queue (fullest listeners per host)",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily listener_backlog = NewFamily(
      "portwatch_host_listener_backlog", "A listener's accept queue limit",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily config_value = NewFamily(
      "portwatch_host_config_value",
      "Numeric TCP settings of the host as last reported (absent settings are not exported)",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily config_info = NewFamily(
      "portwatch_host_config_info",
      "Text TCP settings of the host as last reported, in the value label; always 1",
      prometheus::MetricType::Gauge);
  prometheus::MetricFamily events = NewFamily(
      "portwatch_host_events_total",
      "Kernel TCP counters and counted TCP events (Windows Tcpip events, kernel log lines) as "
      "last reported by the host",
      prometheus::MetricType::Counter);
  prometheus::MetricFamily degraded = NewFamily(
      "portwatch_host_agent_degraded",
      "1 when the agent could not read a source (counts from it are missing, not zero)",
      prometheus::MetricType::Gauge);

  std::vector<prometheus::MetricFamily*> all() {
    return {&dest_ports,   &dest_pressure,    &dest_conns,   &proc_ports,  &proc_sockets,
            &listener_queue, &listener_backlog, &config_value, &config_info, &events, &degraded};
  }
};

void RenderHostDetail(const std::vector<HostView>& hosts, HostDetailFamilies* f) {
  for (const HostView& h : hosts) {
    if (!h.has_report) continue;
    const Report& r = h.last_report;
    const double usable = r.sockets.ephemeral_ports_usable;
    for (const DestinationUsage& d : r.destinations.top) {
      const std::string dest = d.remote.ToString();
      AddSample(f->dest_ports, {{"host", h.host}, {"destination", dest}}, d.local_ports);
      AddSample(f->dest_pressure, {{"host", h.host}, {"destination", dest}},
                usable > 0 ? d.local_ports / usable : 0);
      for (int st = 1; st < kTcpStateCount; ++st) {
        if (d.states[st] == 0) continue;
        AddSample(f->dest_conns,
                  {{"host", h.host},
                   {"destination", dest},
                   {"state", std::string(TcpStateName(static_cast<TcpState>(st)))}},
                  d.states[st]);
      }
    }
    for (const ProcessUsage& p : r.processes.top) {
      const std::string pid = std::to_string(p.pid);
      AddSample(f->proc_ports, {{"host", h.host}, {"process", p.name}, {"pid", pid}},
                p.ephemeral_ports);
      for (int st = 1; st < kTcpStateCount; ++st) {
        if (p.states[st] == 0) continue;
        AddSample(f->proc_sockets,
                  {{"host", h.host},
                   {"process", p.name},
                   {"pid", pid},
                   {"state", std::string(TcpStateName(static_cast<TcpState>(st)))}},
                  p.states[st]);
      }
    }
    for (const ListenerUsage& l : r.listeners) {
      const std::string local = l.local.ToString();
      AddSample(f->listener_queue, {{"host", h.host}, {"listener", local}}, l.accept_queue);
      AddSample(f->listener_backlog, {{"host", h.host}, {"listener", local}}, l.backlog);
    }
    if (h.has_config) {
      for (const ConfigValue& v : h.config.values) {
        if (!v.present) continue;
        if (v.type == ConfigValue::Type::kInt) {
          AddSample(f->config_value, {{"host", h.host}, {"key", v.key}},
                    static_cast<double>(v.int_value));
        } else {
          AddSample(f->config_info, {{"host", h.host}, {"key", v.key}, {"value", v.string_value}},
                    1);
        }
      }
    }
    for (const EventCounter& c : r.events.counters) {
      AddSample(f->events, {{"host", h.host}, {"event", c.name}}, static_cast<double>(c.value));
    }
    AddSample(f->degraded, {{"host", h.host}}, r.events.degraded ? 1 : 0);
  }
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

  HostDetailFamilies detail;
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
  RenderHostDetail(hosts, &detail);
  auto hosts_total = NewFamily("portwatch_fleet_hosts", "Hosts known to this collector",
                            MetricType::Gauge);
  AddSample(hosts_total, {}, static_cast<double>(hosts.size()));
  std::vector<prometheus::MetricFamily> out{std::move(info),  std::move(sockets),     std::move(in_use),      std::move(usable),
          std::move(util),  std::move(range_low),   std::move(range_high),  std::move(last_report),
          std::move(reports), std::move(dropped),   std::move(pending),     std::move(scan),
          std::move(hosts_total)};
  for (auto* f : detail.all()) out.push_back(std::move(*f));
  return out;
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
