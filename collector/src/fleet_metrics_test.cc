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
