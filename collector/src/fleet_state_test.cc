#include "src/fleet_state.h"

#include <gtest/gtest.h>

namespace portwatch::collector {
namespace {

Report At(uint64_t seq, int64_t collected, uint32_t in_use) {
  Report r;
  r.sequence = seq;
  r.collected_unix_ms = collected;
  r.sockets.ephemeral_ports_in_use = in_use;
  return r;
}

TEST(FleetState, AReplayedOlderReportCountsButDoesNotReplaceTheLatest) {
  FleetState fleet;
  AgentHello hello;
  hello.hostname = "web01";
  fleet.OnHello("web01", hello, 1000);
  fleet.OnReport("web01", At(9, 90000, 900), 100000);
  // After an agent restart its predecessor's spooled reports arrive: older samples.
  fleet.OnReport("web01", At(3, 30000, 300), 100001);
  fleet.OnDuplicate("web01", 100002);
  const HostView* h = fleet.Find("web01");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->report->sequence, 9u);
  EXPECT_EQ(h->report->sockets.ephemeral_ports_in_use, 900u);
  EXPECT_EQ(h->reports_total, 2u);
  EXPECT_EQ(h->reports_duplicate_total, 1u);
  EXPECT_EQ(h->last_contact_unix_ms, 100002);
}

TEST(FleetState, AReportWithoutHelloStillListsTheHost) {
  FleetState fleet;
  fleet.OnReport("web01", At(1, 1000, 42), 2000);
  const HostView* h = fleet.Find("web01");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->report->sockets.ephemeral_ports_in_use, 42u);
  EXPECT_EQ(fleet.Find("db01"), nullptr);
}

TEST(FleetState, SettingsAreKeptApartFromTheReportAndOnlyNewerOnesReplaceThem) {
  FleetState fleet;
  Report r = At(1, 5000, 1);
  r.has_config = true;
  r.config.values.push_back({"net.ipv4.tcp_tw_reuse", true, ConfigValue::Type::kInt, 2, ""});
  fleet.OnReport("web01", r, 5000);
  Report older = At(2, 4000, 1);  // a replayed report with older settings
  older.has_config = true;
  older.config.values.push_back({"net.ipv4.tcp_tw_reuse", true, ConfigValue::Type::kInt, 0, ""});
  fleet.OnReport("web01", older, 5001);
  fleet.OnReport("web01", At(3, 6000, 1), 6000);  // no settings: the known ones stay
  const HostView* h = fleet.Find("web01");
  ASSERT_NE(h->config, nullptr);
  EXPECT_EQ(h->config->values[0].int_value, 2);
  EXPECT_EQ(h->config_collected_unix_ms, 5000);
  EXPECT_FALSE(h->report->has_config);  // not held twice
  EXPECT_TRUE(h->report->config.values.empty());
}

TEST(FleetState, PublishSharesUnchangedHostsAndFreezesChangedOnes) {
  FleetState fleet;
  fleet.OnReport("a", At(1, 1000, 10), 1000);
  fleet.OnReport("b", At(1, 1000, 20), 1000);
  auto first = fleet.Publish();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(fleet.Dirty().empty());
  fleet.OnReport("b", At(2, 2000, 21), 2000);
  EXPECT_EQ(fleet.Dirty(), std::vector<std::string>{"b"});
  auto second = fleet.Publish();
  EXPECT_EQ(first[0].get(), second[0].get());  // "a" unchanged: the same object
  EXPECT_NE(first[1].get(), second[1].get());
  // What was published before is untouched by later changes.
  EXPECT_EQ(first[1]->report->sockets.ephemeral_ports_in_use, 20u);
  EXPECT_EQ(second[1]->report->sockets.ephemeral_ports_in_use, 21u);
  EXPECT_TRUE(fleet.Remove("a"));
  EXPECT_FALSE(fleet.Remove("a"));
  EXPECT_EQ(fleet.Publish().size(), 1u);
}

TEST(FleetState, RestoredHostsKeepTheirCounters) {
  FleetState fleet;
  HostView v;
  v.host = "web01";
  v.report = std::make_shared<const Report>(At(5, 4000, 50));
  v.last_seen_unix_ms = 5000;
  v.reports_total = 5;
  v.agent_reports_dropped_total = 2;
  fleet.Restore(v);
  EXPECT_EQ(fleet.Find("web01")->last_contact_unix_ms, 5000);
  // It comes back: counting continues from the stored total.
  fleet.OnReport("web01", At(1, 71000, 60), 71000);
  const HostView* h = fleet.Find("web01");
  EXPECT_EQ(h->reports_total, 6u);
  EXPECT_EQ(h->report->sockets.ephemeral_ports_in_use, 60u);
  EXPECT_EQ(h->agent_reports_dropped_total, 2u);
}

}  // namespace
}  // namespace portwatch::collector
