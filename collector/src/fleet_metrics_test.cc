#include "src/fleet_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <sstream>

#include "src/fleet_core.h"

namespace portwatch::collector {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kCertNotAfter = kT0 / 1000 + 90 * 86400;

// A busy but healthy host's report: full top-K lists, settings and counters.
Report BusyReport(uint64_t seq, int64_t at) {
  Report r;
  r.sequence = seq;
  r.collected_unix_ms = at;
  r.sockets.counts[0][static_cast<int>(TcpState::kTimeWait)] = 42;
  r.sockets.counts[1][static_cast<int>(TcpState::kTimeWait)] = 8;
  r.sockets.counts[0][static_cast<int>(TcpState::kFinWait2)] = 3;
  r.sockets.counts[0][static_cast<int>(TcpState::kLastAck)] = 2;
  r.sockets.ephemeral_range = {49152, 65535};
  r.sockets.ephemeral_ports_usable = 16384;
  r.sockets.ephemeral_ports_in_use = 4096;
  r.sockets.range_source = RangeSource::kAssumedDefault;
  for (int i = 0; i < 20; ++i) {
    DestinationUsage d;
    EXPECT_TRUE(Endpoint::Parse("10.0.4." + std::to_string(i) + ":1433", &d.remote));
    d.local_ports = 100 + i;
    d.states[static_cast<int>(TcpState::kTimeWait)] = 90;
    d.states[static_cast<int>(TcpState::kEstablished)] = 10 + i;
    r.destinations.top.push_back(d);
    ProcessUsage p;
    p.pid = 4000 + i;
    p.name = i < 2 ? "w3wp.exe" : "app" + std::to_string(i);  // two pids of one program
    p.ephemeral_ports = 50;
    r.processes.top.push_back(p);
  }
  r.has_config = true;
  r.config.values.push_back({"Tcpip.TcpTimedWaitDelay", true, ConfigValue::Type::kInt, 240, ""});
  r.config.values.push_back({"Tcpip.MaxUserPort", false, ConfigValue::Type::kInt, 0, ""});
  r.config.values.push_back(
      {"net.ipv4.ip_local_port_range", true, ConfigValue::Type::kString, 0, "32768 60999"});
  r.events.counters.push_back({"Tcpip.4227", 3, 0});
  for (const char* c : {"TcpExt.ListenDrops", "TcpExt.ListenOverflows", "Tcp.ActiveOpens",
                        "Tcp.PassiveOpens", "TcpExt.SyncookiesSent", "TcpExt.TW"}) {
    r.events.counters.push_back({c, 7, 0});
  }
  r.health.spool_bytes = 4096;
  return r;
}

class FleetMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = DriftMonitor::Create(analysis::Options{});
    ASSERT_TRUE(d.ok());
    drift_ = std::move(*d);
    core_ = std::make_unique<FleetCore>(fleet_, *drift_, views_, registry_);
  }
  void Add(const std::string& host, Report r, int64_t at) {
    std::vector<StateEvent> evs(2);
    evs[0].kind = StateEvent::Kind::kHello;
    evs[0].host = host;
    evs[0].received_unix_ms = at;
    evs[0].hello.hostname = host;
    evs[0].hello.os = OsKind::kWindows;
    evs[0].hello.os_version = "10.0.20348";
    evs[0].hello.agent_version = "0.1.0";
    evs[0].certificate_not_after_unix = kCertNotAfter;
    evs[1].host = host;
    evs[1].received_unix_ms = at;
    evs[1].report = std::move(r);
    core_->Step(evs, false, at);
  }
  std::string Scrape(MetricsOptions o) {
    return prometheus::TextSerializer().Serialize(RenderFleet(*views_.Current(), o, kT0));
  }
  // The sample lines of one host.
  static std::vector<std::string> HostLines(const std::string& text, const std::string& host) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      if (line.find("host=\"" + host + "\"") != std::string::npos) out.push_back(line);
    }
    return out;
  }

  FleetState fleet_;
  std::unique_ptr<DriftMonitor> drift_;
  ViewPublisher views_;
  prometheus::Registry registry_;
  std::unique_ptr<FleetCore> core_;
};

// The value of the host's sample of `name`, or NaN when there is none.
double HostValue(const std::string& text, const std::string& name, const std::string& host) {
  const std::string prefix = name + "{host=\"" + host + "\"} ";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, prefix.size(), prefix) == 0) return std::stod(line.substr(prefix.size()));
  }
  return std::nan("");
}

TEST_F(FleetMetricsTest, AgentCertificateExpiryFollowsTheLatestStream) {
  constexpr char kName[] = "portwatch_agent_certificate_expiry_timestamp_seconds";
  Add("web01", BusyReport(1, kT0), kT0);
  EXPECT_EQ(HostValue(Scrape({}), kName, "web01"), static_cast<double>(kCertNotAfter));

  // The agent reconnects with a renewed certificate.
  std::vector<StateEvent> evs(1);
  evs[0].kind = StateEvent::Kind::kHello;
  evs[0].host = "web01";
  evs[0].received_unix_ms = kT0 + 1000;
  evs[0].hello.hostname = "web01";
  evs[0].certificate_not_after_unix = kCertNotAfter + 365 * 86400;
  core_->Step(evs, false, kT0 + 1000);
  EXPECT_EQ(HostValue(Scrape({}), kName, "web01"),
            static_cast<double>(kCertNotAfter + 365 * 86400));

  // A host known only from its reports (restored, or its hello lost) has no such series.
  std::vector<StateEvent> report(1);
  report[0].host = "db01";
  report[0].received_unix_ms = kT0 + 2000;
  report[0].report = BusyReport(1, kT0 + 2000);
  core_->Step(report, false, kT0 + 2000);
  const std::string text = Scrape({});
  EXPECT_NE(text.find("portwatch_host_reports_total{host=\"db01\"}"), std::string::npos);
  EXPECT_TRUE(std::isnan(HostValue(text, kName, "db01"))) << text;
}

TEST_F(FleetMetricsTest, AHealthyHostStaysWithinItsSeriesAndByteBudget) {
  Add("web01", BusyReport(1, kT0), kT0);
  MetricsOptions o;
  o.detail_hosts = 0;  // no ok host gets detail
  const std::string text = Scrape(o);
  const auto lines = HostLines(text, "web01");
  size_t bytes = 0;
  for (const auto& l : lines) bytes += l.size() + 1;
  EXPECT_LE(lines.size(), 25u) << text;
  EXPECT_LE(bytes, 2048u) << text;
  // The summary tier is there; none of the detail is.
  EXPECT_NE(text.find("portwatch_host_state{host=\"web01\",state=\"ok\"} 1"), std::string::npos);
  EXPECT_EQ(text.find("portwatch_host_state{host=\"web01\",state=\"drifting\"}"),
            std::string::npos);  // one state series only
  EXPECT_NE(text.find("portwatch_host_sockets{host=\"web01\",state=\"time_wait\"} 50"),
            std::string::npos);  // both families
  EXPECT_NE(text.find("portwatch_host_sockets{host=\"web01\",state=\"fin_wait\"} 5"),
            std::string::npos);
  EXPECT_NE(text.find("portwatch_host_port_trouble_events_total{host=\"web01\",event=\"Tcpip."
                      "4227\"} 3"),
            std::string::npos);
  EXPECT_NE(text.find("portwatch_host_ephemeral_port_utilization_ratio{host=\"web01\"} 0.25"),
            std::string::npos);
  EXPECT_NE(text.find("portwatch_host_info{host=\"web01\",os=\"windows\",os_version=\"10.0.20348\""),
            std::string::npos);
  for (const char* detail : {"portwatch_host_destination_local_ports{",
                             "portwatch_host_config_value{", "portwatch_host_events_total{",
                             "portwatch_host_detail{", "portwatch_host_ephemeral_range_info{"}) {
    EXPECT_EQ(text.find(detail), std::string::npos) << detail;
  }
}

TEST_F(FleetMetricsTest, DetailGoesToTheOkHostsUsingMostOfTheirRange) {
  Add("busy", BusyReport(1, kT0), kT0);
  Report quiet = BusyReport(1, kT0);
  quiet.sockets.ephemeral_ports_in_use = 10;
  Add("quiet", quiet, kT0);
  MetricsOptions o;
  o.detail_hosts = 1;
  const std::string text = Scrape(o);
  auto has = [&](const std::string& line) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line;
  };
  has("portwatch_host_detail{host=\"busy\",reason=\"top_utilization\"} 1");
  EXPECT_EQ(text.find("portwatch_host_detail{host=\"quiet\""), std::string::npos);
  has("portwatch_host_destination_local_ports{host=\"busy\",destination=\"10.0.4.3:1433\"} 103");
  has("portwatch_host_destination_pressure_ratio{host=\"busy\",destination=\"10.0.4.0:1433\"} "
      "0.006103515625");
  has("portwatch_host_destination_connections{host=\"busy\",destination=\"10.0.4.0:1433\","
      "state=\"time_wait\"} 90");
  // Two processes of one program are one series, without a pid.
  has("portwatch_host_process_ephemeral_ports{host=\"busy\",process=\"w3wp.exe\"} 100");
  has("portwatch_host_config_value{host=\"busy\",key=\"Tcpip.TcpTimedWaitDelay\"} 240");
  has("portwatch_host_config_info{host=\"busy\",key=\"net.ipv4.ip_local_port_range\","
      "value=\"32768 60999\"} 1");
  has("portwatch_host_events_total{host=\"busy\",event=\"TcpExt.ListenDrops\"} 7");
  has("portwatch_host_sockets_by_family{host=\"busy\",family=\"ipv6\",state=\"time_wait\"} 8");
  has("portwatch_host_agent_spool_bytes{host=\"busy\"} 4096");
  has("portwatch_host_ephemeral_range_info{host=\"busy\",source=\"assumed_default\","
      "auto_reuse=\"false\"} 1");
  has("portwatch_fleet_hosts 2");
  // Absent is not zero: an absent setting is not exported at all.
  EXPECT_EQ(text.find("Tcpip.MaxUserPort"), std::string::npos);
  EXPECT_EQ(HostLines(text, "quiet").size(), HostLines(Scrape({0, 20}), "quiet").size());
}

TEST_F(FleetMetricsTest, AHostWithoutReportsIsListedWithoutSocketSeries) {
  std::vector<StateEvent> evs(1);
  evs[0].kind = StateEvent::Kind::kHello;
  evs[0].host = "db01";
  evs[0].received_unix_ms = kT0;
  core_->Step(evs, false, kT0);
  const std::string text = Scrape({});
  EXPECT_NE(text.find("portwatch_host_info{host=\"db01\""), std::string::npos);
  EXPECT_NE(text.find("portwatch_host_state{host=\"db01\",state=\"ok\"} 1"), std::string::npos);
  EXPECT_EQ(text.find("portwatch_host_sockets{host=\"db01\""), std::string::npos);
}

}  // namespace
}  // namespace portwatch::collector
