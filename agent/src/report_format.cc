#include "src/report_format.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace portwatch::agent {

namespace {

nlohmann::json SummaryObject(const std::string& hostname, const SocketSummary& s) {
  nlohmann::json j;
  j["host"] = hostname;
  j["total_sockets"] = s.total_sockets;
  j["ephemeral"] = {{"low", s.ephemeral_range.low},
                    {"high", s.ephemeral_range.high},
                    {"usable", s.ephemeral_ports_usable},
                    {"in_use", s.ephemeral_ports_in_use},
                    {"utilization", s.ephemeral_utilization()}};
  nlohmann::json states = nlohmann::json::object();
  for (int f = 0; f < kFamilyCount; ++f) {
    nlohmann::json fam = nlohmann::json::object();
    for (int st = 1; st < kTcpStateCount; ++st) {
      if (s.counts[f][st] != 0) {
        fam[std::string(TcpStateName(static_cast<TcpState>(st)))] = s.counts[f][st];
      }
    }
    states[std::string(FamilyName(static_cast<Family>(f)))] = fam;
  }
  j["states"] = states;
  return j;
}

nlohmann::json StatesObject(const StateCounts& states) {
  nlohmann::json j = nlohmann::json::object();
  for (int st = 1; st < kTcpStateCount; ++st) {
    if (states[st] != 0) j[std::string(TcpStateName(static_cast<TcpState>(st)))] = states[st];
  }
  return j;
}

}  // namespace

std::string SummaryToJson(const std::string& hostname, const SocketSummary& s) {
  return SummaryObject(hostname, s).dump(2) + "\n";
}

std::string ReportToJson(const std::string& hostname, const Report& r,
                         const std::vector<std::string>& notes) {
  nlohmann::json j = SummaryObject(hostname, r.sockets);
  j["collected_unix_ms"] = r.collected_unix_ms;
  nlohmann::json dests = nlohmann::json::array();
  for (const DestinationUsage& d : r.destinations.top) {
    dests.push_back({{"remote", d.remote.ToString()},
                     {"local_ports", d.local_ports},
                     {"states", StatesObject(d.states)}});
  }
  j["destinations"] = {{"top", dests}, {"others", r.destinations.other_count}};
  nlohmann::json procs = nlohmann::json::array();
  for (const ProcessUsage& p : r.processes.top) {
    procs.push_back({{"pid", p.pid},
                     {"name", p.name},
                     {"program", p.program},
                     {"ephemeral_ports", p.ephemeral_ports},
                     {"states", StatesObject(p.states)}});
  }
  j["processes"] = {{"top", procs}, {"others", r.processes.other_count}};
  nlohmann::json listeners = nlohmann::json::array();
  for (const ListenerUsage& l : r.listeners) {
    listeners.push_back({{"local", l.local.ToString()},
                         {"pid", l.pid},
                         {"process", l.process},
                         {"accept_queue", l.accept_queue},
                         {"backlog", l.backlog}});
  }
  j["listeners"] = listeners;
  if (r.has_config) {
    nlohmann::json values = nlohmann::json::object();
    for (const ConfigValue& v : r.config.values) {
      // null: absent, the OS default applies (not 0).
      if (!v.present) {
        values[v.key] = nullptr;
      } else if (v.type == ConfigValue::Type::kInt) {
        values[v.key] = v.int_value;
      } else {
        values[v.key] = v.string_value;
      }
    }
    j["config"] = {{"os_version", r.config.os_version}, {"values", values}};
  }
  nlohmann::json counters = nlohmann::json::object();
  for (const EventCounter& c : r.events.counters) {
    counters[c.name] = {{"count", c.value}, {"last_unix_ms", c.last_unix_ms}};
  }
  j["events"] = {{"counters", counters},
                 {"degraded", r.events.degraded},
                 {"degraded_reason", r.events.degraded_reason}};
  j["notes"] = notes;
  // Replace rather than fail on text that is not UTF-8 (a process name from an odd locale).
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string SummaryToTable(const std::string& hostname, const SocketSummary& s) {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "host %s: %u TCP sockets\n", hostname.c_str(), s.total_sockets);
  out += line;
  if (s.ephemeral_range.empty()) {
    out += "ephemeral range unknown: port use not computed\n\n";
  } else {
    std::snprintf(line, sizeof line,
                  "ephemeral range %u-%u: %u of %u usable ports held (%.1f%%)\n\n",
                  s.ephemeral_range.low, s.ephemeral_range.high, s.ephemeral_ports_in_use,
                  s.ephemeral_ports_usable, 100.0 * s.ephemeral_utilization());
    out += line;
  }
  std::snprintf(line, sizeof line, "%-12s %10s %10s\n", "STATE", "IPV4", "IPV6");
  out += line;
  for (int st = 1; st < kTcpStateCount; ++st) {
    const uint32_t v4 = s.counts[0][st], v6 = s.counts[1][st];
    if (v4 == 0 && v6 == 0) continue;
    std::snprintf(line, sizeof line, "%-12s %10u %10u\n",
                  std::string(TcpStateName(static_cast<TcpState>(st))).c_str(), v4, v6);
    out += line;
  }
  return out;
}

}  // namespace portwatch::agent
