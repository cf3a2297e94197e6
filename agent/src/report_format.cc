#include "src/report_format.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace portwatch::agent {

std::string SummaryToJson(const std::string& hostname, const SocketSummary& s) {
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
  return j.dump(2) + "\n";
}

std::string SummaryToTable(const std::string& hostname, const SocketSummary& s) {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "host %s: %u TCP sockets\n", hostname.c_str(), s.total_sockets);
  out += line;
  std::snprintf(line, sizeof line,
                "ephemeral range %u-%u: %u of %u usable ports held (%.1f%%)\n\n",
                s.ephemeral_range.low, s.ephemeral_range.high, s.ephemeral_ports_in_use,
                s.ephemeral_ports_usable, 100.0 * s.ephemeral_utilization());
  out += line;
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
