#include "src/fleet_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace portwatch::collector {
namespace {

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& fams,
                                     const std::string& name) {
  for (const auto& f : fams) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(FleetMetrics, RendersEachHostWithItsLabel) {
  FleetState fleet;
  AgentHello hello;
  hello.hostname = "web01";
  hello.os = OsKind::kLinux;
  fleet.OnHello("web01", hello);
  fleet.OnHello("db01", hello);  // hello but no report yet: listed, no socket series
  Report r;
  r.sequence = 1;
  r.sockets.counts[0][static_cast<int>(TcpState::kTimeWait)] = 42;
  r.sockets.ephemeral_range = {32768, 60999};
  r.sockets.ephemeral_ports_usable = 28232;
  r.sockets.ephemeral_ports_in_use = 7058;
  ASSERT_TRUE(fleet.OnReport("web01", r, 1700000000000));
  EXPECT_FALSE(fleet.OnReport("unknown-host", r, 1));  // no hello, nothing stored

  auto fams = RenderFleet(fleet.Snapshot());
  const auto* info = Find(fams, "portwatch_host_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->metric.size(), 2u);
  const auto* sockets = Find(fams, "portwatch_host_sockets");
  ASSERT_NE(sockets, nullptr);
  bool found = false;
  for (const auto& m : sockets->metric) {
    std::map<std::string, std::string> l;
    for (const auto& lab : m.label) l[lab.name] = lab.value;
    EXPECT_EQ(l["host"], "web01");
    if (l["family"] == "ipv4" && l["state"] == "time_wait") {
      EXPECT_EQ(m.gauge.value, 42);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  const auto* util = Find(fams, "portwatch_host_ephemeral_port_utilization_ratio");
  ASSERT_NE(util, nullptr);
  ASSERT_EQ(util->metric.size(), 1u);
  EXPECT_NEAR(util->metric[0].gauge.value, 0.25, 0.001);
  const auto* last = Find(fams, "portwatch_host_last_report_timestamp_seconds");
  ASSERT_NE(last, nullptr);
  EXPECT_DOUBLE_EQ(last->metric[0].gauge.value, 1700000000.0);
  const auto* hosts = Find(fams, "portwatch_fleet_hosts");
  ASSERT_NE(hosts, nullptr);
  EXPECT_EQ(hosts->metric[0].gauge.value, 2);

  // Serialises without error (the text format a scrape sees).
  const std::string text = prometheus::TextSerializer().Serialize(fams);
  EXPECT_NE(text.find("portwatch_host_sockets{host=\"web01\",family=\"ipv4\",state=\"time_wait\"} 42"),
            std::string::npos)
      << text.substr(0, 2000);
}

}  // namespace
}  // namespace portwatch::collector

namespace portwatch::collector {
namespace {

TEST(FleetMetrics, RendersTopListsSettingsAndEvents) {
  FleetState fleet;
  AgentHello hello;
  hello.hostname = "web01";
  fleet.OnHello("web01", hello);
  Report r;
  r.sequence = 1;
  r.sockets.ephemeral_range = {49152, 65535};
  r.sockets.ephemeral_ports_usable = 16384;
  DestinationUsage d;
  ASSERT_TRUE(Endpoint::Parse("10.0.4.12:1433", &d.remote));
  d.local_ports = 4096;
  d.states[static_cast<int>(TcpState::kTimeWait)] = 4000;
  r.destinations.top.push_back(d);
  ProcessUsage p;
  p.pid = 4242;
  p.name = "w3wp.exe";
  p.ephemeral_ports = 4000;
  p.states[static_cast<int>(TcpState::kBound)] = 3000;
  r.processes.top.push_back(p);
  r.has_config = true;
  r.config.values.push_back({"Tcpip.TcpTimedWaitDelay", true, ConfigValue::Type::kInt, 240, ""});
  r.config.values.push_back({"Tcpip.MaxUserPort", false, ConfigValue::Type::kInt, 0, ""});
  r.config.values.push_back(
      {"net.ipv4.ip_local_port_range", true, ConfigValue::Type::kString, 0, "32768 60999"});
  r.events.counters.push_back({"Tcpip.4227", 3, 0});
  ASSERT_TRUE(fleet.OnReport("web01", r, 1));
  // A later report without settings keeps the ones already known.
  r.sequence = 2;
  r.has_config = false;
  ASSERT_TRUE(fleet.OnReport("web01", r, 2));

  const std::string text = prometheus::TextSerializer().Serialize(RenderFleet(fleet.Snapshot()));
  auto has = [&](const std::string& line) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line;
  };
  has("portwatch_host_destination_local_ports{host=\"web01\",destination=\"10.0.4.12:1433\"} 4096");
  has("portwatch_host_destination_pressure_ratio{host=\"web01\",destination=\"10.0.4.12:1433\"} 0.25");
  has("portwatch_host_destination_connections{host=\"web01\",destination=\"10.0.4.12:1433\","
      "state=\"time_wait\"} 4000");
  has("portwatch_host_process_ephemeral_ports{host=\"web01\",process=\"w3wp.exe\",pid=\"4242\"} "
      "4000");
  has("portwatch_host_process_sockets{host=\"web01\",process=\"w3wp.exe\",pid=\"4242\","
      "state=\"bound\"} 3000");
  has("portwatch_host_config_value{host=\"web01\",key=\"Tcpip.TcpTimedWaitDelay\"} 240");
  has("portwatch_host_config_info{host=\"web01\",key=\"net.ipv4.ip_local_port_range\","
      "value=\"32768 60999\"} 1");
  has("portwatch_host_events_total{host=\"web01\",event=\"Tcpip.4227\"} 3");
  // Absent is not zero: an absent setting is not exported at all.
  EXPECT_EQ(text.find("Tcpip.MaxUserPort"), std::string::npos);
}

TEST(FleetMetrics, DeliveryHealthPerHost) {
  HostView quiet;
  quiet.host = "db01";
  quiet.silent = true;
  HostView busy;
  busy.host = "web01";
  busy.has_report = true;
  busy.reports_duplicate_total = 3;
  busy.last_report.health.spool_bytes = 4096;
  busy.last_report.health.spool_corrupt_records_total = 1;
  auto fams = RenderDelivery({quiet, busy});
  const auto* silent = Find(fams, "portwatch_host_silent");
  ASSERT_NE(silent, nullptr);
  ASSERT_EQ(silent->metric.size(), 2u);  // the silent host stays listed
  EXPECT_EQ(silent->metric[0].gauge.value, 1);
  EXPECT_EQ(silent->metric[1].gauge.value, 0);
  EXPECT_EQ(Find(fams, "portwatch_fleet_silent_hosts")->metric[0].gauge.value, 1);
  EXPECT_EQ(Find(fams, "portwatch_host_reports_duplicate_total")->metric[1].counter.value, 3);
  const auto* spool = Find(fams, "portwatch_host_agent_spool_bytes");
  ASSERT_EQ(spool->metric.size(), 1u);  // only hosts with a report
  EXPECT_EQ(spool->metric[0].gauge.value, 4096);
  EXPECT_EQ(spool->metric[0].label[0].value, "web01");
}

}  // namespace
}  // namespace portwatch::collector
