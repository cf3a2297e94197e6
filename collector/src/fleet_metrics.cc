#include "src/fleet_metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <unordered_set>

#include "portwatch/files.h"
#include "src/metric_families.h"

namespace portwatch::collector {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<prometheus::ClientMetric::Label>;

// The summary tier's socket states: the ones that hold ports or tell of trouble. The closing
// states are one group; per-family detail is for detail hosts.
struct StateGroup {
  const char* name;
  std::vector<TcpState> states;
};
const std::vector<StateGroup>& StateGroups() {
  static const std::vector<StateGroup> groups{
      {"established", {TcpState::kEstablished}},
      {"syn_sent", {TcpState::kSynSent}},
      {"syn_recv", {TcpState::kSynRecv}},
      {"fin_wait",
       {TcpState::kFinWait1, TcpState::kFinWait2, TcpState::kClosing, TcpState::kLastAck}},
      {"time_wait", {TcpState::kTimeWait}},
      {"close_wait", {TcpState::kCloseWait}},
      {"listen", {TcpState::kListen}},
      {"bound", {TcpState::kBound}},
  };
  return groups;
}

// Counters that mean the host ran short of ports (or TIME_WAIT slots): every host exports these,
// where its OS reports them. Everything else is detail.
bool IsPortTroubleCounter(const std::string& name) {
  static const std::unordered_set<std::string> names{
      "Tcpip.4226", "Tcpip.4227", "Tcpip.4231", "TcpExt.TCPTimeWaitOverflow",
      "kmsg.tcp_tw_bucket_overflow"};
  return names.count(name) > 0;
}

struct Families {
  // Summary tier.
  MetricFamily info = NewFamily("portwatch_host_info",
                                "Agent facts per host (OS, its version, agent version); always 1",
                                MetricType::Gauge);
  MetricFamily state = NewFamily(
      "portwatch_host_state",
      "The host's drift state, one series per host with value 1: ok, drifting (exhaustion "
      "forecast within the horizon), critical (within the hour, or the OS counted port "
      "trouble), exhausted, silent (not heard from for --silent-after)",
      MetricType::Gauge);
  MetricFamily sockets = NewFamily(
      "portwatch_host_sockets",
      "TCP sockets on the host by state, IPv4 and IPv6 together (fin_wait: fin_wait1, fin_wait2, "
      "closing and last_ack; bound: bound to a port but never connected)",
      MetricType::Gauge);
  MetricFamily in_use = NewFamily("portwatch_host_ephemeral_ports_in_use",
                                  "Distinct ports of the usable ephemeral range held by any TCP "
                                  "socket",
                                  MetricType::Gauge);
  MetricFamily usable = NewFamily("portwatch_host_ephemeral_ports_usable",
                                  "Ports of the ephemeral range the OS can hand out (range minus "
                                  "reserved or excluded ports)",
                                  MetricType::Gauge);
  MetricFamily util = NewFamily("portwatch_host_ephemeral_port_utilization_ratio",
                                "Share of the usable ephemeral ports held, 0 to 1",
                                MetricType::Gauge);
  MetricFamily last_report = NewFamily("portwatch_host_last_report_timestamp_seconds",
                                       "Unix time the collector stored the host's latest report",
                                       MetricType::Gauge);
  MetricFamily reports = NewFamily("portwatch_host_reports_total",
                                   "Reports stored for the host (kept across collector restarts)",
                                   MetricType::Counter);
  MetricFamily pending = NewFamily("portwatch_host_agent_reports_pending",
                                   "Reports waiting in the agent for acknowledgement, as last "
                                   "reported",
                                   MetricType::Gauge);
  MetricFamily dropped = NewFamily("portwatch_host_agent_reports_dropped_total",
                                   "Reports the host's agents dropped unsent (spool bound "
                                   "reached), over all agent instances",
                                   MetricType::Counter);
  MetricFamily cert_expiry = NewFamily("portwatch_agent_certificate_expiry_timestamp_seconds",
                                       "When the client certificate of the host's latest stream "
                                       "expires (Unix time); renew it before then",
                                       MetricType::Gauge);
  MetricFamily scan = NewFamily("portwatch_host_agent_scan_duration_seconds",
                                "How long the agent's last socket table scan took",
                                MetricType::Gauge);
  MetricFamily degraded = NewFamily("portwatch_host_agent_degraded",
                                    "1 when the agent could not read a source (counts from it "
                                    "are missing, not zero)",
                                    MetricType::Gauge);
  MetricFamily trouble = NewFamily(
      "portwatch_host_port_trouble_events_total",
      "Counters that mean the host ran out of ports or TIME_WAIT slots, as last reported: "
      "Windows Tcpip events 4226, 4227, 4231; Linux TcpExt.TCPTimeWaitOverflow and the kernel "
      "log's TIME_WAIT bucket overflow lines",
      MetricType::Counter);
  MetricFamily eta = NewFamily("portwatch_host_exhaustion_eta_seconds",
                               "Seconds until the host runs out of ephemeral ports (or of "
                               "4-tuples toward its worst destination) at its current growth; "
                               "only while drifting or worse",
                               MetricType::Gauge);
  MetricFamily full_at = NewFamily("portwatch_host_exhaustion_forecast_timestamp_seconds",
                                   "Unix time the host is forecast to run out of ports (or of "
                                   "4-tuples toward its worst destination); only while drifting "
                                   "or worse",
                                   MetricType::Gauge);
  MetricFamily skew = NewFamily("portwatch_host_clock_skew_seconds",
                                "Agent clock minus the collector's receipt time of the host's "
                                "latest report (includes delivery delay; a report dated too far "
                                "ahead is re-timed to its receipt)",
                                MetricType::Gauge);
  MetricFamily steady = NewFamily("portwatch_host_churn_steady_ratio",
                                  "Where occupancy settles at today's TIME_WAIT churn, as a share "
                                  "of capacity (the host's range or its worst destination's "
                                  "4-tuples); where the churn is measured",
                                  MetricType::Gauge);
  MetricFamily growth = NewFamily("portwatch_host_port_growth_ratio_per_second",
                                  "Growth of the host's worst series as a share of its capacity "
                                  "per second (x 360000 = percent per hour); only while not ok",
                                  MetricType::Gauge);
  // Detail tier.
  MetricFamily detail = NewFamily("portwatch_host_detail",
                                  "1 for hosts exported with detail series; reason: not_ok, or "
                                  "top_utilization (among the ok hosts using most of their "
                                  "range)",
                                  MetricType::Gauge);
  MetricFamily sockets_family = NewFamily("portwatch_host_sockets_by_family",
                                          "TCP sockets by address family and state, non-zero only "
                                          "(detail hosts)",
                                          MetricType::Gauge);
  MetricFamily range_low = NewFamily("portwatch_host_ephemeral_range_low",
                                     "First port of the ephemeral range (detail hosts)",
                                     MetricType::Gauge);
  MetricFamily range_high = NewFamily("portwatch_host_ephemeral_range_high",
                                      "Last port of the ephemeral range (detail hosts)",
                                      MetricType::Gauge);
  MetricFamily range_info = NewFamily("portwatch_host_ephemeral_range_info",
                                      "1, labelled with where the ephemeral range came from "
                                      "(source: sysctl, wmi, netsh, registry, assumed_default) "
                                      "and whether Windows' AutoReusePortRange applies (detail "
                                      "hosts)",
                                      MetricType::Gauge);
  MetricFamily dest_ports = NewFamily("portwatch_host_destination_local_ports",
                                      "Distinct local ports in use toward a remote endpoint (its "
                                      "4-tuple use), top-K per detail host",
                                      MetricType::Gauge);
  MetricFamily dest_pressure = NewFamily(
      "portwatch_host_destination_pressure_ratio",
      "Local ports in use toward a remote endpoint over the usable ephemeral ports: how close "
      "the host is to running out of 4-tuples toward it (detail hosts)",
      MetricType::Gauge);
  MetricFamily dest_conns = NewFamily("portwatch_host_destination_connections",
                                      "Connections toward a remote endpoint from ephemeral ports, "
                                      "by state, non-zero only (detail hosts)",
                                      MetricType::Gauge);
  MetricFamily dest_eta = NewFamily("portwatch_host_destination_exhaustion_eta_seconds",
                                    "Seconds until the host's 4-tuples toward this destination "
                                    "run out, where forecast (detail hosts)",
                                    MetricType::Gauge);
  MetricFamily proc_ports = NewFamily("portwatch_host_process_ephemeral_ports",
                                      "Ephemeral ports held by a program (all its processes), "
                                      "top-K per detail host; (unattributed) gathers sockets "
                                      "whose owner could not be read",
                                      MetricType::Gauge);
  MetricFamily proc_growth = NewFamily("portwatch_host_process_port_growth_per_second",
                                       "Growth of the ports a program holds, per second, where "
                                       "measured (detail hosts)",
                                       MetricType::Gauge);
  MetricFamily listener_queue = NewFamily("portwatch_host_listener_accept_queue",
                                          "Connections waiting in a listener's accept queue "
                                          "(fullest listeners of detail hosts)",
                                          MetricType::Gauge);
  MetricFamily listener_backlog = NewFamily("portwatch_host_listener_backlog",
                                            "A listener's accept queue limit (detail hosts)",
                                            MetricType::Gauge);
  MetricFamily config_value = NewFamily("portwatch_host_config_value",
                                        "Numeric TCP settings as last reported (absent settings, "
                                        "where the OS default applies, are not exported; detail "
                                        "hosts)",
                                        MetricType::Gauge);
  MetricFamily config_info = NewFamily("portwatch_host_config_info",
                                       "Text TCP settings as last reported, in the value label; "
                                       "always 1 (detail hosts)",
                                       MetricType::Gauge);
  MetricFamily events = NewFamily("portwatch_host_events_total",
                                  "Every kernel TCP counter and counted TCP event the host "
                                  "reports (Windows Tcpip events, /proc/net counters, kernel log "
                                  "lines), as last reported (detail hosts)",
                                  MetricType::Counter);
  MetricFamily spool_bytes = NewFamily("portwatch_host_agent_spool_bytes",
                                       "Size of the agent's spool of unacknowledged reports, as "
                                       "last reported (detail hosts)",
                                       MetricType::Gauge);
  MetricFamily spool_failures = NewFamily("portwatch_host_agent_spool_write_failures_total",
                                          "Reports the agent could not write to its spool disk "
                                          "and kept in memory, since the agent started (detail "
                                          "hosts)",
                                          MetricType::Counter);
  MetricFamily spool_corrupt = NewFamily("portwatch_host_agent_spool_corrupt_records_total",
                                         "Damaged spool records the agent skipped, since it "
                                         "started (detail hosts)",
                                         MetricType::Counter);
  MetricFamily duplicates = NewFamily("portwatch_host_reports_duplicate_total",
                                      "Reports of the host received again after they were stored "
                                      "(acknowledged, not stored twice; detail hosts)",
                                      MetricType::Counter);
  // Fleet.
  MetricFamily fleet_hosts =
      NewFamily("portwatch_fleet_hosts", "Hosts known to this collector", MetricType::Gauge);
  MetricFamily by_state = NewFamily("portwatch_fleet_hosts_by_state", "Hosts in each drift state",
                                    MetricType::Gauge);
  MetricFamily silent_hosts = NewFamily("portwatch_fleet_silent_hosts",
                                        "Hosts not heard from for the --silent-after time (they "
                                        "stay listed)",
                                        MetricType::Gauge);
  MetricFamily fleet_dest = NewFamily("portwatch_fleet_destination_growing_hosts",
                                      "Hosts whose ports toward this destination grow "
                                      "significantly (top destinations of the fleet)",
                                      MetricType::Gauge);
  MetricFamily fleet_proc = NewFamily("portwatch_fleet_process_growing_hosts",
                                      "Hosts where this program's ports grow significantly (top "
                                      "programs of the fleet)",
                                      MetricType::Gauge);
  MetricFamily out_of_order = NewFamily("portwatch_analysis_out_of_order_reports_total",
                                        "Reports dated (agent clock) before their host's newest: "
                                        "a clock that stepped back, a spool delivered late or two "
                                        "agents sharing one identity; analysed in receipt order",
                                        MetricType::Counter);
  MetricFamily view_age = NewFamily("portwatch_view_age_seconds",
                                    "Age of the fleet view this scrape rendered (it is "
                                    "republished after each batch of reports and every second)",
                                    MetricType::Gauge);

  std::vector<MetricFamily> Take() {
    std::vector<MetricFamily> out;
    for (MetricFamily* f :
         {&info, &state, &sockets, &in_use, &usable, &util, &last_report, &reports, &pending,
          &dropped, &scan, &degraded, &trouble, &eta, &full_at, &growth, &skew, &steady, &detail, &sockets_family,
          &range_low, &range_high, &range_info, &dest_ports, &dest_pressure, &dest_conns, &dest_eta,
          &proc_ports, &proc_growth, &listener_queue, &listener_backlog, &config_value,
          &config_info, &events, &spool_bytes, &spool_failures, &spool_corrupt, &duplicates,
          &fleet_hosts, &by_state, &silent_hosts, &fleet_dest, &fleet_proc, &out_of_order,
          &view_age, &cert_expiry}) {
      out.push_back(std::move(*f));
    }
    return out;
  }
};

void RenderSummary(const HostView& h, Families* f) {
  const Labels host{{"host", h.host}};
  AddSample(f->info,
            {{"host", h.host},
             {"os", std::string(OsKindName(h.hello.os))},
             {"os_version", h.hello.os_version},
             {"agent_version", h.hello.agent_version}},
            1);
  AddSample(f->state, {{"host", h.host}, {"state", std::string(analysis::HostStateName(h.drift.state))}},
            1);
  AddSample(f->reports, host, static_cast<double>(h.reports_total));
  if (h.status != nullptr) {
    AddSample(f->skew, host, h.drift.clock_skew_s);
    if (std::isfinite(h.drift.steady_utilization)) {
      AddSample(f->steady, host, h.drift.steady_utilization);
    }
  }
  AddSample(f->dropped, host, static_cast<double>(h.agent_reports_dropped_total));
  if (h.certificate_not_after_unix != 0) {
    AddSample(f->cert_expiry, host, static_cast<double>(h.certificate_not_after_unix));
  }
  if (h.drift.state != analysis::HostState::kOk &&
      h.drift.state != analysis::HostState::kSilent) {
    if (std::isfinite(h.drift.eta_s)) {
      AddSample(f->eta, host, h.drift.eta_s);
      const int64_t sampled = h.status != nullptr ? h.status->last_sample_ms : h.last_seen_unix_ms;
      AddSample(f->full_at, host, sampled / 1000.0 + h.drift.eta_s);
    }
    if (std::isfinite(h.drift.growth_pct_per_hour)) {
      AddSample(f->growth, host, h.drift.growth_pct_per_hour / 100 / 3600);
    }
  }
  if (!h.has_report()) return;
  const Report& r = *h.report;
  const SocketSummary& s = r.sockets;
  for (const StateGroup& g : StateGroups()) {
    uint32_t n = 0;
    for (TcpState st : g.states) n += s.count(Family::kIpv4, st) + s.count(Family::kIpv6, st);
    AddSample(f->sockets, {{"host", h.host}, {"state", g.name}}, n);
  }
  AddSample(f->in_use, host, s.ephemeral_ports_in_use);
  AddSample(f->usable, host, s.ephemeral_ports_usable);
  AddSample(f->util, host, s.ephemeral_utilization());
  AddSample(f->last_report, host, h.last_seen_unix_ms / 1000.0);
  AddSample(f->pending, host, r.health.reports_pending);
  AddSample(f->scan, host, r.health.scan_duration_us / 1e6);
  AddSample(f->degraded, host, r.events.degraded ? 1 : 0);
  for (const EventCounter& c : r.events.counters) {
    if (IsPortTroubleCounter(c.name)) {
      AddSample(f->trouble, {{"host", h.host}, {"event", c.name}}, static_cast<double>(c.value));
    }
  }
}

void RenderDetail(const HostView& h, const char* reason, Families* f) {
  const Labels host{{"host", h.host}};
  AddSample(f->detail, {{"host", h.host}, {"reason", reason}}, 1);
  AddSample(f->duplicates, host, static_cast<double>(h.reports_duplicate_total));
  if (h.status != nullptr) {
    for (const auto& d : h.status->destinations) {
      if (d.present && d.fit.forecast.finite && std::isfinite(d.fit.forecast.eta_s)) {
        AddSample(f->dest_eta, {{"host", h.host}, {"destination", d.key}}, d.fit.forecast.eta_s);
      }
    }
    for (const auto& p : h.status->processes) {
      if (p.present && p.fit.trend.valid && std::isfinite(p.fit.trend.per_hour)) {
        AddSample(f->proc_growth, {{"host", h.host}, {"process", p.key}},
                  p.fit.trend.per_hour / 3600);
      }
    }
  }
  if (h.config != nullptr) {
    for (const ConfigValue& v : h.config->values) {
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
  if (!h.has_report()) return;
  const Report& r = *h.report;
  const SocketSummary& s = r.sockets;
  for (int fam = 0; fam < kFamilyCount; ++fam) {
    for (int st = 1; st < kTcpStateCount; ++st) {
      if (s.counts[fam][st] == 0) continue;
      AddSample(f->sockets_family,
                {{"host", h.host},
                 {"family", std::string(FamilyName(static_cast<Family>(fam)))},
                 {"state", std::string(TcpStateName(static_cast<TcpState>(st)))}},
                s.counts[fam][st]);
    }
  }
  AddSample(f->range_low, host, s.ephemeral_range.low);
  AddSample(f->range_high, host, s.ephemeral_range.high);
  AddSample(f->range_info,
            {{"host", h.host},
             {"source", std::string(RangeSourceName(s.range_source))},
             {"auto_reuse", s.auto_reuse_range ? "true" : "false"}},
            1);
  const double usable = s.ephemeral_ports_usable;
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
  // Several processes of one program are one series: a pid label would churn with restarts.
  std::map<std::string, uint64_t> by_name;
  for (const ProcessUsage& p : r.processes.top) by_name[p.name] += p.ephemeral_ports;
  for (const auto& [name, ports] : by_name) {
    AddSample(f->proc_ports, {{"host", h.host}, {"process", name}}, static_cast<double>(ports));
  }
  for (const ListenerUsage& l : r.listeners) {
    const std::string local = l.local.ToString();
    AddSample(f->listener_queue, {{"host", h.host}, {"listener", local}}, l.accept_queue);
    AddSample(f->listener_backlog, {{"host", h.host}, {"listener", local}}, l.backlog);
  }
  for (const EventCounter& c : r.events.counters) {
    AddSample(f->events, {{"host", h.host}, {"event", c.name}}, static_cast<double>(c.value));
  }
  AddSample(f->spool_bytes, host, static_cast<double>(r.health.spool_bytes));
  AddSample(f->spool_failures, host, static_cast<double>(r.health.spool_write_failures_total));
  AddSample(f->spool_corrupt, host, static_cast<double>(r.health.spool_corrupt_records_total));
}

}  // namespace

std::vector<prometheus::MetricFamily> RenderFleet(const FleetView& view,
                                                  const MetricsOptions& options,
                                                  int64_t now_unix_ms) {
  Families f;
  for (const auto& h : view.hosts) RenderSummary(*h, &f);

  // Detail: every host that is not ok, then the ok hosts using most of their range. A silent
  // host's detail is only what it said last: the query API keeps it.
  const size_t not_ok = view.not_ok_count();
  for (size_t i = 0; i < not_ok; ++i) {
    if (!view.ranked[i]->silent()) RenderDetail(*view.ranked[i], "not_ok", &f);
  }
  std::vector<const HostView*> ok(view.ranked.begin() + static_cast<std::ptrdiff_t>(not_ok),
                                  view.ranked.end());
  const size_t top = std::min(options.detail_hosts, ok.size());
  auto busier = [](const HostView* a, const HostView* b) {
    const double ua = a->drift.utilization, ub = b->drift.utilization;
    return ua != ub ? ua > ub : a->host < b->host;
  };
  std::partial_sort(ok.begin(), ok.begin() + static_cast<std::ptrdiff_t>(top), ok.end(), busier);
  for (size_t i = 0; i < top; ++i) RenderDetail(*ok[i], "top_utilization", &f);

  AddSample(f.fleet_hosts, {}, static_cast<double>(view.hosts.size()));
  for (int s = 0; s < analysis::kHostStateCount; ++s) {
    const auto hs = static_cast<analysis::HostState>(s);
    AddSample(f.by_state, {{"state", std::string(analysis::HostStateName(hs))}}, view.state_counts[s]);
  }
  AddSample(f.silent_hosts, {},
            view.state_counts[static_cast<int>(analysis::HostState::kSilent)]);
  const size_t n_dest = std::min(options.fleet_top, view.destinations.size());
  for (size_t i = 0; i < n_dest; ++i) {
    AddSample(f.fleet_dest, {{"destination", view.destinations[i].key}},
              view.destinations[i].growing_hosts);
  }
  const size_t n_proc = std::min(options.fleet_top, view.processes.size());
  for (size_t i = 0; i < n_proc; ++i) {
    AddSample(f.fleet_proc, {{"process", view.processes[i].key}},
              view.processes[i].growing_hosts);
  }
  AddSample(f.out_of_order, {}, static_cast<double>(view.out_of_order_reports));
  AddSample(f.view_age, {},
            view.published_unix_ms > 0 ? (now_unix_ms - view.published_unix_ms) / 1000.0 : 0);
  return f.Take();
}

std::vector<prometheus::MetricFamily> FleetCollectable::Collect() const {
  const auto t0 = std::chrono::steady_clock::now();
  const std::shared_ptr<const FleetView> view = views_.Current();
  auto families = RenderFleet(*view, opts_, NowUnixMs());
  auto render = NewFamily("portwatch_scrape_render_duration_seconds",
                          "Time the collector took to render the previous scrape of /metrics "
                          "from its fleet view",
                          prometheus::MetricType::Gauge);
  AddSample(render, {}, last_render_s_.load());
  families.push_back(std::move(render));
  last_render_s_.store(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return families;
}

}  // namespace portwatch::collector
