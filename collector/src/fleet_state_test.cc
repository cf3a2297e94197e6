#include "src/fleet_state.h"

#include <gtest/gtest.h>

#include "portwatch/files.h"

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
  ASSERT_TRUE(fleet.OnReport("web01", At(9, 90000, 900), 100000));
  // After an agent restart its predecessor's spooled reports arrive: older samples.
  ASSERT_TRUE(fleet.OnReport("web01", At(3, 30000, 300), 100001));
  fleet.OnDuplicate("web01", 100002);
  const HostView h = fleet.SnapshotAt(100002)[0];
  EXPECT_EQ(h.last_report.sequence, 9u);
  EXPECT_EQ(h.last_report.sockets.ephemeral_ports_in_use, 900u);
  EXPECT_EQ(h.reports_total, 2u);
  EXPECT_EQ(h.reports_duplicate_total, 1u);
  EXPECT_EQ(h.last_contact_unix_ms, 100002);
}

TEST(FleetState, OneHostByName) {
  FleetState fleet;
  AgentHello hello;
  hello.hostname = "web01";
  hello.os_version = "Linux 6.1";
  fleet.OnHello("web01", hello, NowUnixMs());
  ASSERT_TRUE(fleet.OnReport("web01", At(1, 1000, 42), NowUnixMs()));
  const std::optional<HostView> h = fleet.Host("web01");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->hello.os_version, "Linux 6.1");
  EXPECT_EQ(h->last_report.sockets.ephemeral_ports_in_use, 42u);
  EXPECT_FALSE(h->silent);
  EXPECT_FALSE(fleet.Host("db01").has_value());
}

TEST(FleetState, AQuietHostTurnsSilentAndStaysListed) {
  FleetState fleet(60000);
  AgentHello hello;
  fleet.OnHello("web01", hello, 1000);
  fleet.OnHello("db01", hello, 1000);
  fleet.OnReport("web01", At(1, 50000, 1), 50000);
  auto snap = fleet.SnapshotAt(100000);
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_TRUE(snap[0].silent);   // db01: hello at 1 s, nothing since
  EXPECT_FALSE(snap[1].silent);  // web01: reported 50 s ago
  snap = fleet.SnapshotAt(111000);
  EXPECT_TRUE(snap[1].silent);
}

TEST(FleetState, RestoredHostsKeepTheirCountersAndTurnSilent) {
  FleetState fleet(60000);
  HostView v;
  v.host = "web01";
  v.has_report = true;
  v.last_report = At(5, 4000, 50);
  v.last_seen_unix_ms = 5000;
  v.reports_total = 5;
  v.agent_reports_dropped_total = 2;
  fleet.Restore(v);
  auto h = fleet.SnapshotAt(70000)[0];
  EXPECT_TRUE(h.silent);
  EXPECT_EQ(h.reports_total, 5u);
  // It comes back: counting continues from the stored total.
  ASSERT_TRUE(fleet.OnReport("web01", At(1, 71000, 60), 71000));
  h = fleet.SnapshotAt(71000)[0];
  EXPECT_FALSE(h.silent);
  EXPECT_EQ(h.reports_total, 6u);
  EXPECT_EQ(h.last_report.sockets.ephemeral_ports_in_use, 60u);
}

}  // namespace
}  // namespace portwatch::collector
