#include "sim/sim_model.h"

#include <gtest/gtest.h>

#include <map>

namespace portwatch::sim {
namespace {

TEST(SimMix, ParsesSharesAndNamesTheUnknown) {
  auto mix = ParseMix("healthy=70,leak_slow=10,tw_storm");
  ASSERT_TRUE(mix.ok()) << mix.error();
  ASSERT_EQ(mix->size(), 3u);
  EXPECT_EQ((*mix)[0].first, Scenario::kHealthy);
  EXPECT_EQ((*mix)[2].second, 1);
  auto bad = ParseMix("healthy=70,leaky=3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("unknown scenario 'leaky'"), std::string::npos);
  EXPECT_NE(bad.error().find("leak_slow"), std::string::npos);  // lists the known ones
  EXPECT_FALSE(ParseMix("healthy=abc").ok());
  EXPECT_FALSE(ParseMix("healthy=-1").ok());
  EXPECT_FALSE(ParseMix("healthy=0").ok());
  EXPECT_FALSE(ParseMix("").ok());
}

TEST(SimFleet, ExactSharesDeterministicFromTheSeed) {
  auto mix = ParseMix("healthy=70,leak_slow=20,tw_storm=10");
  ASSERT_TRUE(mix.ok());
  const auto a = PlanFleet(10, *mix, 7, "sim");
  const auto b = PlanFleet(10, *mix, 7, "sim");
  const auto c = PlanFleet(10, *mix, 8, "sim");
  std::map<Scenario, int> counts;
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    ++counts[a[i].scenario];
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].scenario, b[i].scenario);
    EXPECT_EQ(a[i].seed, b[i].seed);
    differs |= a[i].seed != c[i].seed;
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(counts[Scenario::kHealthy], 7);
  EXPECT_EQ(counts[Scenario::kLeakSlow], 2);
  EXPECT_EQ(counts[Scenario::kTimeWaitStorm], 1);
  EXPECT_EQ(a[0].name, "sim-00001");
  EXPECT_EQ(PlanFleet(3, *mix, 1, "x").size(), 3u);  // a remainder still fills the fleet
}

HostPlan Plan(Scenario s, OsKind os = OsKind::kLinux) {
  HostPlan p;
  p.name = "h";
  p.scenario = s;
  p.os = os;
  p.seed = 42;
  return p;
}

TEST(SimHostModel, ALeakGrowsAndAHealthyHostComesBackDown) {
  HostModel leak(Plan(Scenario::kLeakFast));
  HostModel healthy(Plan(Scenario::kHealthy));
  const uint32_t leak0 = leak.Sample(0, 0, 1, true).sockets.ephemeral_ports_in_use;
  const uint32_t leak10 = leak.Sample(10, 0, 2, false).sockets.ephemeral_ports_in_use;
  // +4% of the range per hour: about 40% more after 10 hours.
  EXPECT_NEAR(static_cast<double>(leak10 - leak0) / leak.capacity(), 0.40, 0.05);
  uint32_t lo = UINT32_MAX, hi = 0, first = 0, last = 0;
  for (int h = 0; h <= 48; ++h) {
    const uint32_t v = healthy.Sample(h, 0, h + 1, false).sockets.ephemeral_ports_in_use;
    if (h == 0) first = v;
    last = v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GT(hi, lo);  // a cycle
  EXPECT_NEAR(static_cast<double>(last) - first, 0, 0.02 * healthy.capacity());  // no net rise
}

TEST(SimHostModel, ReportsAreConsistentAndCountersOnlyGrow) {
  HostModel m(Plan(Scenario::kSynFlood));
  uint64_t opens = 0;
  for (int i = 0; i < 20; ++i) {
    const Report r = m.Sample(i * 0.1, 1000 * i, i + 1, i == 0);
    EXPECT_EQ(r.has_config, i == 0);
    EXPECT_LE(r.sockets.ephemeral_ports_in_use, r.sockets.ephemeral_ports_usable);
    EXPECT_GT(r.sockets.count(Family::kIpv4, TcpState::kSynRecv), 500u);
    for (const auto& d : r.destinations.top) {
      EXPECT_LE(d.local_ports, r.sockets.ephemeral_ports_usable);
    }
    for (const auto& c : r.events.counters) {
      if (c.name == "Tcp.ActiveOpens") {
        EXPECT_GE(c.value, opens);
        opens = c.value;
      }
    }
  }
  EXPECT_GT(opens, 0u);
}

TEST(SimHostModel, ScenarioShapes) {
  HostModel storm(Plan(Scenario::kTimeWaitStorm, OsKind::kWindows));
  const Report s = storm.Sample(1, 0, 1, true);
  EXPECT_EQ(s.sockets.ephemeral_ports_usable, 3976u);  // 1025-5000
  EXPECT_GT(s.sockets.ephemeral_utilization(), 0.85);
  EXPECT_GT(s.sockets.count(Family::kIpv4, TcpState::kTimeWait),
            s.sockets.ephemeral_ports_in_use * 0.8);
  bool twd = false;
  for (const auto& v : s.config.values) twd |= v.key == "Tcpip.TcpTimedWaitDelay" && v.int_value == 240;
  EXPECT_TRUE(twd);

  HostModel dest(Plan(Scenario::kLeakDestination));
  const Report d = dest.Sample(12, 0, 1, false);
  EXPECT_EQ(d.destinations.top.front().remote.ToString(), "10.20.0.5:1433");

  HostModel proc(Plan(Scenario::kLeakProcess, OsKind::kWindows));
  EXPECT_EQ(proc.Sample(12, 0, 1, false).processes.top.front().name, "leaky-agent.exe");

  HostModel skew(Plan(Scenario::kClockSkew));
  EXPECT_GE(std::abs(skew.clock_offset_ms()), 3'600'000);
  EXPECT_EQ(skew.Sample(0, 5'000'000'000, 1, false).collected_unix_ms,
            5'000'000'000 + skew.clock_offset_ms());

  HostModel bad(Plan(Scenario::kMisconfigured));
  bool cookies_off = false;
  for (const auto& v : bad.Sample(0, 0, 1, true).config.values) {
    cookies_off |= v.key == "net.ipv4.tcp_syncookies" && v.int_value == 0;
  }
  EXPECT_TRUE(cookies_off);
}

}  // namespace
}  // namespace portwatch::sim
