#include "src/report_format.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace portwatch::agent {
namespace {

TEST(ReportFormat, TableSaysWhenTheRangeIsUnknown) {
  Report r;
  SocketSummary& s = r.sockets;
  s.counts[0][static_cast<int>(TcpState::kListen)] = 1;
  s.total_sockets = 1;
  r.events.degraded = true;
  r.events.degraded_reason = "ephemeral port range unknown: no WMI";
  const std::string unknown = ReportToTable("web01", r);
  EXPECT_NE(unknown.find("ephemeral range unknown"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("DEGRADED: ephemeral port range unknown: no WMI"), std::string::npos);
  s.ephemeral_range = {49152, 65535};
  s.ephemeral_ports_usable = 16384;
  s.ephemeral_ports_in_use = 4096;
  const std::string known = ReportToTable("web01", r);
  EXPECT_NE(known.find("ephemeral range 49152-65535 (unknown): 4096 of 16384 usable ports held "
                       "(25.0%)"),
            std::string::npos)
      << known;
  s.range_source = RangeSource::kAssumedDefault;
  s.auto_reuse_range = true;
  const std::string assumed = ReportToTable("web01", r);
  EXPECT_NE(assumed.find("ephemeral range 49152-65535 (assumed_default, AutoReusePortRange)"),
            std::string::npos)
      << assumed;
  EXPECT_NE(ReportToJson("web01", r).find("\"source\": \"assumed_default\""), std::string::npos);
}

TEST(ReportFormat, JsonReportCarriesTopListsConfigAndEventTimes) {
  Report r;
  r.sockets.total_sockets = 3;
  DestinationUsage d;
  ASSERT_TRUE(Endpoint::Parse("10.0.4.12:1433", &d.remote));
  d.local_ports = 2;
  d.states[static_cast<int>(TcpState::kTimeWait)] = 2;
  r.destinations.top.push_back(d);
  ProcessUsage p;
  p.pid = 4242;
  p.name = "w3wp.exe";
  p.program = "C:\\Windows\\System32\\inetsrv\\w3wp.exe";
  p.states[static_cast<int>(TcpState::kBound)] = 7;
  r.processes.top.push_back(p);
  r.has_config = true;
  r.config.os_version = "Windows 10.0.20348";
  ConfigValue absent;
  absent.key = "Tcpip.MaxUserPort";
  ConfigValue delay;
  delay.key = "Tcpip.TcpTimedWaitDelay";
  delay.present = true;
  delay.int_value = 30;
  r.config.values = {absent, delay};
  r.events.counters.push_back({"Tcpip.4227", 3, 1683706530123});
  r.events.degraded = true;
  r.events.degraded_reason = "bound-only sockets cannot be counted";

  nlohmann::json j = nlohmann::json::parse(ReportToJson("web01", r));
  EXPECT_EQ(j["host"], "web01");
  EXPECT_EQ(j["destinations"]["top"][0]["remote"], "10.0.4.12:1433");
  EXPECT_EQ(j["destinations"]["top"][0]["states"]["time_wait"], 2);
  EXPECT_EQ(j["processes"]["top"][0]["name"], "w3wp.exe");
  EXPECT_EQ(j["processes"]["top"][0]["states"]["bound"], 7);
  EXPECT_TRUE(j["config"]["values"]["Tcpip.MaxUserPort"].is_null()) << "absent is null, not 0";
  EXPECT_EQ(j["config"]["values"]["Tcpip.TcpTimedWaitDelay"], 30);
  EXPECT_EQ(j["events"]["counters"]["Tcpip.4227"], 3);
  EXPECT_EQ(j["events"]["last_unix_ms"]["Tcpip.4227"], 1683706530123);
  EXPECT_EQ(j["events"]["degraded"], true);
  EXPECT_EQ(j["events"]["degraded_reason"], "bound-only sockets cannot be counted");
}

// snapshot --json used to abort (uncaught type_error, exit 134) while a process whose name is not
// UTF-8 held sockets: it must print, with the bad bytes replaced.
TEST(ReportFormat, JsonNeverAbortsOnInvalidUtf8) {
  Report r;
  ProcessUsage p;
  p.pid = 42;
  p.name = "bad\xFF\xC0name";
  p.program = std::string("/tmp/\xE6\x9C", 7);
  r.processes.top.push_back(p);
  r.events.degraded = true;
  r.events.degraded_reason = "\xFE";
  std::string out;
  ASSERT_NO_THROW(out = ReportToJson("web\xFF", r));
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["processes"]["top"][0]["name"], "bad\xEF\xBF\xBD\xEF\xBF\xBDname");
  EXPECT_EQ(j["processes"]["top"][0]["pid"], 42);
}

}  // namespace
}  // namespace portwatch::agent
