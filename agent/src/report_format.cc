#include "src/report_format.h"

#include <nlohmann/json.hpp>

#include <cstdarg>
#include <cstdio>

namespace portwatch::agent {
namespace {

nlohmann::json StatesJson(const StateCounts& states) {
  nlohmann::json j = nlohmann::json::object();
  for (int st = 1; st < kTcpStateCount; ++st) {
    if (states[st] != 0) j[std::string(TcpStateName(static_cast<TcpState>(st)))] = states[st];
  }
  return j;
}

std::string StatesText(const StateCounts& states) {
  std::string out;
  for (int st = 1; st < kTcpStateCount; ++st) {
    if (states[st] == 0) continue;
    if (!out.empty()) out += ' ';
    out += std::string(TcpStateName(static_cast<TcpState>(st))) + "=" + std::to_string(states[st]);
  }
  return out.empty() ? "-" : out;
}

#if defined(__GNUC__)
std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
std::string Format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

nlohmann::json ReportJson(const std::string& hostname, const Report& r) {
  const SocketSummary& s = r.sockets;
  nlohmann::json j;
  j["host"] = hostname;
  j["total_sockets"] = s.total_sockets;
  j["ephemeral"] = {{"low", s.ephemeral_range.low},
                    {"high", s.ephemeral_range.high},
                    {"usable", s.ephemeral_ports_usable},
                    {"in_use", s.ephemeral_ports_in_use},
                    {"utilization", s.ephemeral_utilization()},
                    {"source", RangeSourceName(s.range_source)},
                    {"auto_reuse", s.auto_reuse_range}};
  nlohmann::json states = nlohmann::json::object();
  for (int f = 0; f < kFamilyCount; ++f) {
    states[std::string(FamilyName(static_cast<Family>(f)))] = StatesJson(s.counts[f]);
  }
  j["states"] = states;
  nlohmann::json dests = nlohmann::json::array();
  for (const DestinationUsage& d : r.destinations.top) {
    dests.push_back({{"remote", d.remote.ToString()},
                     {"local_ports", d.local_ports},
                     {"pressure", s.ephemeral_ports_usable
                                      ? static_cast<double>(d.local_ports) / s.ephemeral_ports_usable
                                      : 0.0},
                     {"states", StatesJson(d.states)}});
  }
  j["destinations"] = {{"top", dests},
                       {"other_count", r.destinations.other_count},
                       {"other_local_ports", r.destinations.other.local_ports},
                       {"other_states", StatesJson(r.destinations.other.states)}};
  nlohmann::json procs = nlohmann::json::array();
  for (const ProcessUsage& p : r.processes.top) {
    procs.push_back({{"pid", p.pid},
                     {"name", p.name},
                     {"program", p.program},
                     {"ephemeral_ports", p.ephemeral_ports},
                     {"states", StatesJson(p.states)}});
  }
  j["processes"] = {{"top", procs},
                    {"other_count", r.processes.other_count},
                    {"other_ephemeral_ports", r.processes.other.ephemeral_ports},
                    {"other_states", StatesJson(r.processes.other.states)}};
  nlohmann::json listeners = nlohmann::json::array();
  for (const ListenerUsage& l : r.listeners) {
    listeners.push_back({{"local", l.local.ToString()},
                         {"accept_queue", l.accept_queue},
                         {"backlog", l.backlog},
                         {"pid", l.pid},
                         {"process", l.process}});
  }
  j["listeners"] = listeners;
  nlohmann::json inbound = nlohmann::json::array();
  for (const InboundUsage& u : s.inbound) {
    inbound.push_back({{"port", u.port}, {"states", StatesJson(u.states)}});
  }
  j["inbound"] = {{"time_wait", s.inbound_time_wait}, {"ports", inbound}};
  if (r.has_config) {
    nlohmann::json cfg = nlohmann::json::object();
    for (const ConfigValue& v : r.config.values) {
      if (!v.present) {
        cfg[v.key] = nullptr;  // absent: the OS default applies
      } else if (v.type == ConfigValue::Type::kInt) {
        cfg[v.key] = v.int_value;
      } else {
        cfg[v.key] = v.string_value;
      }
    }
    j["config"] = {{"os_version", r.config.os_version}, {"values", cfg}};
  }
  nlohmann::json counters = nlohmann::json::object();
  nlohmann::json last = nlohmann::json::object();  // when the source says (Windows events)
  for (const EventCounter& c : r.events.counters) {
    counters[c.name] = c.value;
    if (c.last_unix_ms != 0) last[c.name] = c.last_unix_ms;
  }
  j["events"] = {{"counters", counters}, {"last_unix_ms", last}, {"degraded", r.events.degraded}};
  if (r.events.degraded) j["events"]["degraded_reason"] = r.events.degraded_reason;
  return j;
}

}  // namespace

std::string ReportToJson(const std::string& hostname, const Report& r) {
  const nlohmann::json j = ReportJson(hostname, r);
  // Names are sanitized where they are read, but this is the one-box command an admin runs on a
  // host in trouble: it must never abort on a byte that slipped through (dump() throws
  // type_error 316 on invalid UTF-8 by default).
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string ReportToJsonLine(const AgentHello& hello, const Report& r) {
  nlohmann::json j = ReportJson(hello.hostname, r);
  j["sequence"] = r.sequence;
  j["collected_unix_ms"] = r.collected_unix_ms;
  if (!r.instance_id.empty()) j["instance_id"] = r.instance_id;
  const AgentHealth& h = r.health;
  j["health"] = {{"reports_dropped_total", h.reports_dropped_total},
                 {"reports_pending", h.reports_pending},
                 {"scan_duration_us", h.scan_duration_us},
                 {"spool_bytes", h.spool_bytes},
                 {"spool_write_failures_total", h.spool_write_failures_total},
                 {"spool_corrupt_records_total", h.spool_corrupt_records_total}};
  j["agent"] = {{"os", OsKindName(hello.os)},
                {"os_version", hello.os_version},
                {"agent_version", hello.agent_version},
                {"instance_id", hello.instance_id},
                {"boot_id", hello.boot_id},
                {"interval_ms", hello.interval_ms}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string ReportToTable(const std::string& hostname, const Report& r) {
  const SocketSummary& s = r.sockets;
  std::string out = Format("host %s: %u TCP sockets\n", hostname.c_str(), s.total_sockets);
  if (s.ephemeral_range.empty()) {
    out += "ephemeral range unknown: port use not computed (see DEGRADED below)\n\n";
  } else {
    out += Format("ephemeral range %u-%u (%s%s): %u of %u usable ports held (%.1f%%)\n\n",
                  s.ephemeral_range.low, s.ephemeral_range.high,
                  std::string(RangeSourceName(s.range_source)).c_str(),
                  s.auto_reuse_range ? ", AutoReusePortRange" : "", s.ephemeral_ports_in_use,
                  s.ephemeral_ports_usable, 100.0 * s.ephemeral_utilization());
  }
  out += Format("%-12s %10s %10s\n", "STATE", "IPV4", "IPV6");
  for (int st = 1; st < kTcpStateCount; ++st) {
    const uint32_t v4 = s.counts[0][st], v6 = s.counts[1][st];
    if (v4 == 0 && v6 == 0) continue;
    out += Format("%-12s %10u %10u\n",
                  std::string(TcpStateName(static_cast<TcpState>(st))).c_str(), v4, v6);
  }
  if (!r.destinations.top.empty()) {
    out += Format("\n%-44s %11s %9s  %s\n", "DESTINATION", "LOCAL PORTS", "PRESSURE", "STATES");
    for (const DestinationUsage& d : r.destinations.top) {
      out += Format("%-44s %11u %8.2f%%  %s\n", d.remote.ToString().c_str(), d.local_ports,
                    s.ephemeral_ports_usable ? 100.0 * d.local_ports / s.ephemeral_ports_usable : 0,
                    StatesText(d.states).c_str());
    }
    if (r.destinations.other_count) {
      out += Format("%-44s %11u %9s  %s\n",
                    Format("(%u others)", r.destinations.other_count).c_str(),
                    r.destinations.other.local_ports, "", StatesText(r.destinations.other.states).c_str());
    }
  }
  if (!r.processes.top.empty()) {
    out += Format("\n%8s %-24s %15s  %s\n", "PID", "PROCESS", "EPHEMERAL PORTS", "SOCKETS");
    for (const ProcessUsage& p : r.processes.top) {
      out += Format("%8u %-24s %15u  %s\n", p.pid, p.name.c_str(), p.ephemeral_ports,
                    StatesText(p.states).c_str());
    }
    if (r.processes.other_count) {
      out += Format("%8s %-24s %15u  %s\n", "",
                    Format("(%u others)", r.processes.other_count).c_str(),
                    r.processes.other.ephemeral_ports, StatesText(r.processes.other.states).c_str());
    }
  }
  if (!r.listeners.empty()) {
    out += Format("\n%-44s %12s %8s  %s\n", "LISTENER", "ACCEPT QUEUE", "BACKLOG", "PROCESS");
    for (const ListenerUsage& l : r.listeners) {
      out += Format("%-44s %12u %8u  %s (%u)\n", l.local.ToString().c_str(), l.accept_queue,
                    l.backlog, l.process.c_str(), l.pid);
    }
  }
  if (!s.inbound.empty()) {
    out += Format("\n%-44s  %s\n", "INBOUND ON LISTENING PORT", "SOCKETS");
    for (const InboundUsage& u : s.inbound) {
      out += Format("%-44s  %s\n", Format(":%u", u.port).c_str(), StatesText(u.states).c_str());
    }
    out += Format(
        "(%u TIME_WAIT on listening ports: closed first by this host, no ephemeral port held)\n",
        s.inbound_time_wait);
  }
  if (r.has_config) {
    out += Format("\nSETTINGS (%s)\n", r.config.os_version.c_str());
    for (const ConfigValue& v : r.config.values) {
      const std::string val = !v.present ? "(absent: OS default)"
                              : v.type == ConfigValue::Type::kInt ? std::to_string(v.int_value)
                                                                  : v.string_value;
      out += Format("  %-36s %s\n", v.key.c_str(), val.c_str());
    }
  }
  if (!r.events.counters.empty()) {
    out += "\nEVENT COUNTERS\n";
    for (const EventCounter& c : r.events.counters) {
      out += Format("  %-36s %llu\n", c.name.c_str(), static_cast<unsigned long long>(c.value));
    }
  }
  if (r.events.degraded) out += "\nDEGRADED: " + r.events.degraded_reason + "\n";
  return out;
}

}  // namespace portwatch::agent
