#include "portwatch/analysis/fleet_analyzer.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "synthetic_test_util.h"

namespace portwatch::analysis {
namespace {

using namespace testing;  // NOLINT: the synthetic helpers

std::unique_ptr<FleetAnalyzer> NewFleet(Options options = Options()) {
  auto fleet = FleetAnalyzer::Create(std::move(options));
  EXPECT_TRUE(fleet.ok()) << fleet.error();
  return std::move(fleet).value();
}

HostSample With(HostSample s, std::vector<DetailSample> destinations,
                std::vector<DetailSample> processes) {
  s.destinations = std::move(destinations);
  s.processes = std::move(processes);
  return s;
}

TEST(FleetAnalyzerTest, AggregatesDestinationsAndProcessNamesAcrossHosts) {
  auto fleet = NewFleet();
  ASSERT_TRUE(
      fleet
          ->OnSample(
              "web01",
              With(PortsSample(0, 900), {{"10.0.4.12:1433", 100, 10}}, {{"w3wp.exe", 120, 10}}), 0)
          .ok());
  ASSERT_TRUE(fleet
                  ->OnSample("web02",
                             With(PortsSample(0, 900),
                                  {{"10.0.4.12:1433", 200, 20}, {"10.0.9.1:443", 50, 0}},
                                  {{"w3wp.exe", 230, 20}, {"sqlcmd.exe", 5, 0}}),
                             0)
                  .ok());
  ASSERT_TRUE(
      fleet->OnSample("web03", With(PortsSample(0, 900), {{"10.0.4.12:1433", 300, 30}}, {}), 0)
          .ok());
  auto db = fleet->Destination("10.0.4.12:1433");
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(db->hosts, 3u);
  EXPECT_EQ(db->ports, 600u);
  EXPECT_EQ(db->time_wait, 60u);
  EXPECT_EQ(fleet->Destination("10.0.9.1:443")->hosts, 1u);
  EXPECT_EQ(fleet->Process("w3wp.exe")->ports, 350u);
  EXPECT_EQ(fleet->Process("w3wp.exe")->hosts, 2u);
  auto top = fleet->Destinations(1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].key, "10.0.4.12:1433") << "most ports first when nothing drifts";

  // web02 stops listing the database (it fell out of its top-K): its share leaves the aggregate
  // with the report that no longer lists it.
  ASSERT_TRUE(fleet
                  ->OnSample("web02",
                             With(PortsSample(kMinute, 900), {{"10.0.9.1:443", 60, 0}}, {}),
                             kMinute)
                  .ok());
  EXPECT_EQ(fleet->Destination("10.0.4.12:1433")->ports, 400u);
  EXPECT_EQ(fleet->Destination("10.0.4.12:1433")->hosts, 2u);
  EXPECT_FALSE(fleet->Process("sqlcmd.exe").has_value());
  EXPECT_EQ(fleet->Process("w3wp.exe")->hosts, 1u);

  // Removing a host takes out everything it contributed.
  EXPECT_TRUE(fleet->RemoveHost("web03"));
  EXPECT_FALSE(fleet->RemoveHost("web03"));
  EXPECT_EQ(fleet->Destination("10.0.4.12:1433")->ports, 100u);
  EXPECT_EQ(fleet->host_count(), 2u);
  EXPECT_EQ(fleet->state_counts()[static_cast<int>(HostState::kOk)], 2u);
}

TEST(FleetAnalyzerTest, RemovingHostsInEveryStateLeavesCountsRankingAndAggregatesExact) {
  auto fleet = NewFleet();
  // web01 exhausted, web02 critical (a counter), web03 silent, web04 ok; all list the database.
  auto sample = [](int64_t t, double ports) {
    return With(PortsSample(t, ports), {{"10.0.4.12:1433", 50, 5}}, {{"w3wp.exe", 60, 5}});
  };
  ASSERT_TRUE(fleet->OnSample("web01", sample(0, kCapacity), 0).ok());
  HostSample c0 = sample(0, 500), c1 = sample(kMinute, 500);
  c0.counters.push_back({"Tcpip.4227", 1});
  c1.counters.push_back({"Tcpip.4227", 2});
  ASSERT_TRUE(fleet->OnSample("web02", c0, 0).ok());
  ASSERT_TRUE(fleet->OnSample("web02", c1, kMinute).ok());
  ASSERT_TRUE(fleet->OnSample("web03", sample(0, 500), 0).ok());
  ASSERT_TRUE(fleet->OnSample("web01", sample(6 * kMinute, kCapacity), 6 * kMinute).ok());
  ASSERT_TRUE(fleet->OnSample("web02", sample(6 * kMinute, 500), 6 * kMinute).ok());
  ASSERT_TRUE(fleet->OnSample("web04", sample(6 * kMinute, 500), 6 * kMinute).ok());
  fleet->Tick(6 * kMinute);
  const auto& counts = fleet->state_counts();
  ASSERT_EQ(counts[static_cast<int>(HostState::kExhausted)], 1u);
  ASSERT_EQ(counts[static_cast<int>(HostState::kCritical)], 1u);
  ASSERT_EQ(counts[static_cast<int>(HostState::kSilent)], 1u);
  ASSERT_EQ(fleet->Worst(10, 6 * kMinute).size(), 3u);
  EXPECT_EQ(fleet->Destination("10.0.4.12:1433")->hosts, 4u) << "silent web03 still listed";

  for (const char* gone : {"web01", "web02", "web03"}) ASSERT_TRUE(fleet->RemoveHost(gone));
  EXPECT_EQ(fleet->host_count(), 1u);
  uint32_t total = 0;
  for (uint32_t n : counts) total += n;
  EXPECT_EQ(total, 1u);
  EXPECT_EQ(counts[static_cast<int>(HostState::kOk)], 1u);
  EXPECT_TRUE(fleet->Worst(10, 6 * kMinute).empty());
  EXPECT_EQ(fleet->Destination("10.0.4.12:1433")->hosts, 1u);
  EXPECT_EQ(fleet->Destination("10.0.4.12:1433")->ports, 50u);
  EXPECT_EQ(fleet->Process("w3wp.exe")->ports, 60u);
  // Tick after removal must not touch the removed silent host; a returning host starts afresh.
  fleet->Tick(kHour);
  EXPECT_EQ(counts[static_cast<int>(HostState::kSilent)], 1u) << "web04 went silent";
  ASSERT_TRUE(fleet->OnSample("web01", sample(kHour, 500), kHour).ok());
  EXPECT_EQ(fleet->Host("web01", kHour)->state, HostState::kOk);
  EXPECT_EQ(fleet->host_count(), 2u);
}

TEST(FleetAnalyzerTest, DetailSeriesOutsideTheTopKExpire) {
  auto fleet = NewFleet();
  ASSERT_TRUE(
      fleet->OnSample("web01", With(PortsSample(0, 900), {{"10.0.4.12:1433", 100, 0}}, {}), 0)
          .ok());
  const int64_t expiry = fleet->options().detail_expiry_ms;
  ASSERT_TRUE(fleet->OnSample("web01", PortsSample(expiry, 900), expiry).ok());
  EXPECT_EQ(fleet->Host("web01", expiry)->destinations.size(), 1u) << "kept while it may return";
  EXPECT_FALSE(fleet->Host("web01", expiry)->destinations[0].present);
  ASSERT_TRUE(fleet->OnSample("web01", PortsSample(expiry + 1, 900), expiry + 1).ok());
  EXPECT_TRUE(fleet->Host("web01", expiry + 1)->destinations.empty());
}

// The aggregates as they would be computed from scratch, from every host's current view.
void ExpectMatchesRecomputation(const FleetAnalyzer& fleet, const std::vector<std::string>& hosts,
                                int64_t now, bool* saw_growth) {
  std::map<std::string, FleetAggregate> dest, proc;
  std::array<uint32_t, kHostStateCount> states{};
  auto add = [](std::map<std::string, FleetAggregate>* m, const SeriesStatus& s) {
    if (!s.present) return;
    FleetAggregate& a = (*m)[s.key];
    a.key = s.key;
    ++a.hosts;
    a.ports += s.ports;
    a.time_wait += s.time_wait;
    if (s.fit.trend.valid) a.growth_milli_per_hour += std::llround(s.fit.trend.per_hour * 1000);
    a.growing_hosts += s.fit.growing ? 1 : 0;
  };
  size_t known = 0;
  for (const std::string& h : hosts) {
    auto st = fleet.Host(h, now);
    if (!st) continue;
    ++known;
    ++states[static_cast<int>(st->state)];
    for (const SeriesStatus& s : st->destinations) add(&dest, s);
    for (const SeriesStatus& s : st->processes) add(&proc, s);
  }
  EXPECT_EQ(fleet.host_count(), known);
  EXPECT_EQ(fleet.state_counts(), states);
  auto all_dest = fleet.Destinations(1'000'000);
  ASSERT_EQ(all_dest.size(), dest.size());
  for (const FleetAggregate& a : all_dest) {
    EXPECT_EQ(a, dest[a.key]) << a.key;
    *saw_growth = *saw_growth || (a.growth_milli_per_hour > 0 && a.growing_hosts > 0);
  }
  auto all_proc = fleet.Processes(1'000'000);
  ASSERT_EQ(all_proc.size(), proc.size());
  for (const FleetAggregate& a : all_proc) EXPECT_EQ(a, proc[a.key]) << a.key;
}

TEST(FleetAnalyzerTest, IncrementalUpdatesEqualARecomputationFromScratch) {
  // 40 hosts over 12 hours: destinations and processes come and go from their top-K, a third of
  // the hosts leak toward one database, hosts go silent, come back, and are removed.
  Options options;
  options.detail = SeriesOptions{2 * kMinute, 72};
  auto fleet = NewFleet(options);
  std::mt19937_64 rng(5150);
  std::vector<std::string> hosts;
  for (int i = 0; i < 40; ++i) hosts.push_back("host" + std::to_string(i));
  std::vector<std::string> dest_pool, proc_pool;
  for (int i = 0; i < 12; ++i) dest_pool.push_back("10.0.0." + std::to_string(i) + ":443");
  for (int i = 0; i < 6; ++i) proc_pool.push_back("proc" + std::to_string(i));
  bool saw_growth = false;
  for (int64_t t = 0; t < 12 * kHour; t += kMinute) {
    for (size_t h = 0; h < hosts.size(); ++h) {
      if (rng() % 10 == 0) continue;                                // a missed report now and then
      if (h % 13 == 5 && t > 6 * kHour && t < 7 * kHour) continue;  // silent for an hour
      const bool leaks = h % 3 == 0;
      const double leak = leaks ? 0.05 * kCapacity * static_cast<double>(t) / kHour : 0;
      HostSample s = PortsSample(t, 2000 + leak + static_cast<double>(rng() % 50));
      s.destinations.push_back(
          {"10.0.4.12:1433", static_cast<uint32_t>(100 + leak + rng() % 20), 5});
      for (int k = 0; k < 3; ++k) {
        const std::string& key = dest_pool[rng() % dest_pool.size()];
        bool dup = false;
        for (const DetailSample& d : s.destinations) dup = dup || d.key == key;
        if (!dup) s.destinations.push_back({key, static_cast<uint32_t>(rng() % 300), 3});
      }
      s.processes.push_back(
          {leaks ? "leaky.exe" : "calm.exe", static_cast<uint32_t>(150 + leak + rng() % 20), 2});
      s.processes.push_back(
          {proc_pool[h % proc_pool.size()], static_cast<uint32_t>(rng() % 90), 1});
      ASSERT_TRUE(fleet->OnSample(hosts[h], s, t).ok());
    }
    fleet->Tick(t);
    if (t == 9 * kHour) {
      ASSERT_TRUE(fleet->RemoveHost(hosts[7]));
      ASSERT_TRUE(fleet->RemoveHost(hosts[8]));
    }
    if (t % (30 * kMinute) == 0) {
      ExpectMatchesRecomputation(*fleet, hosts, t, &saw_growth);
      if (::testing::Test::HasFailure()) return;
    }
  }
  EXPECT_TRUE(saw_growth) << "the leak toward the database should show as significant growth";
  auto db = fleet->Destination("10.0.4.12:1433");
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(fleet->Destinations(1)[0].key, "10.0.4.12:1433") << "most growing hosts first";
  EXPECT_GT(fleet->state_counts()[static_cast<int>(HostState::kDrifting)] +
                fleet->state_counts()[static_cast<int>(HostState::kCritical)],
            0u);
}

TEST(FleetAnalyzerTest, TickMarksSilentHostsAndTheyRecover) {
  auto fleet = NewFleet();
  const int64_t silent = fleet->options().silent_after_ms;
  ASSERT_TRUE(fleet->OnSample("web01", PortsSample(0, 100), 0).ok());
  ASSERT_TRUE(fleet->OnSample("web02", PortsSample(0, 100), silent / 2).ok());
  fleet->Tick(silent - 1);
  EXPECT_EQ(fleet->state_counts()[static_cast<int>(HostState::kSilent)], 0u);
  fleet->Tick(silent);
  EXPECT_EQ(fleet->Host("web01", silent)->state, HostState::kSilent);
  EXPECT_EQ(fleet->Host("web02", silent)->state, HostState::kOk);
  EXPECT_EQ(fleet->state_counts()[static_cast<int>(HostState::kSilent)], 1u);
  auto worst = fleet->Worst(10, silent);
  ASSERT_EQ(worst.size(), 1u);
  EXPECT_EQ(worst[0].host, "web01");
  // The agent reconnects: its next report lifts the silence.
  ASSERT_TRUE(fleet->OnSample("web01", PortsSample(silent + 1, 100), silent + 1).ok());
  EXPECT_EQ(fleet->Host("web01", silent + 1)->state, HostState::kOk);
  EXPECT_EQ(fleet->state_counts()[static_cast<int>(HostState::kOk)], 2u);
  EXPECT_TRUE(fleet->Worst(10, silent + 1).empty());
}

TEST(FleetAnalyzerTest, WorstListsExhaustedThenCriticalThenSilent) {
  auto fleet = NewFleet();
  ASSERT_TRUE(fleet->OnSample("quiet", PortsSample(0, 100), 0).ok());
  ASSERT_TRUE(fleet->OnSample("gone", PortsSample(0, 100), 0).ok());
  HostSample first = PortsSample(0, 100);
  first.counters.push_back({"Tcpip.4227", 1});
  ASSERT_TRUE(fleet->OnSample("colliding", first, 0).ok());
  const int64_t t = fleet->options().silent_after_ms;
  fleet->Tick(t);  // all three are silent now; two of them report again
  HostSample again = PortsSample(t, 100);
  again.counters.push_back({"Tcpip.4227", 4});
  ASSERT_TRUE(fleet->OnSample("colliding", again, t).ok());
  ASSERT_TRUE(fleet->OnSample("full", PortsSample(t, kCapacity), t).ok());
  ASSERT_TRUE(fleet->OnSample("quiet", PortsSample(t, 100), t).ok());
  auto worst = fleet->Worst(10, t);
  ASSERT_EQ(worst.size(), 3u);
  EXPECT_EQ(worst[0].host, "full");
  EXPECT_EQ(worst[0].state, HostState::kExhausted);
  EXPECT_EQ(worst[1].host, "colliding");
  EXPECT_EQ(worst[1].state, HostState::kCritical);
  EXPECT_EQ(worst[2].host, "gone");
  EXPECT_EQ(fleet->Worst(1, t).size(), 1u);
  int summarized = 0;
  fleet->ForEachHost([&](const std::string&, const HostSummary&) { ++summarized; });
  EXPECT_EQ(summarized, 4);
}

TEST(FleetAnalyzerTest, RefusesBadOptionsAndRebasesABackwardClock) {
  Options bad;
  bad.silent_after_ms = 0;
  auto fleet = FleetAnalyzer::Create(bad);
  ASSERT_FALSE(fleet.ok());
  EXPECT_NE(fleet.error().find("silent_after_ms"), std::string::npos) << fleet.error();

  auto good = NewFleet();
  ASSERT_TRUE(
      good->OnSample("web01", With(PortsSample(kHour, 100), {{"10.0.4.12:1433", 7, 0}}, {}), kHour)
          .ok());
  // An hour back in agent time: re-based onto receipt time, not refused, and not silent.
  EXPECT_TRUE(good->OnSample("web01", PortsSample(0, 100), kHour + kMinute).ok());
  good->Tick(kHour + kMinute + 1);
  EXPECT_EQ(good->Host("web01", kHour + kMinute)->last_sample_ms, kHour + kMinute);
  EXPECT_EQ(good->Host("web01", kHour + kMinute)->clock_corrections, 1u);
  EXPECT_EQ(good->state_counts()[static_cast<int>(HostState::kSilent)], 0u);
}

TEST(SampleFromReportTest, TakesCapacityTimeWaitDestinationsAndProcessesByName) {
  Report r;
  r.collected_unix_ms = 1234;
  r.sockets.ephemeral_ports_in_use = 700;
  r.sockets.ephemeral_ports_usable = 28232;
  r.sockets.counts[0][static_cast<int>(TcpState::kTimeWait)] = 40;
  r.sockets.counts[1][static_cast<int>(TcpState::kTimeWait)] = 2;
  DestinationUsage d;
  ASSERT_TRUE(Endpoint::Parse("10.0.4.12:1433", &d.remote));
  d.local_ports = 300;
  d.states[static_cast<int>(TcpState::kTimeWait)] = 30;
  r.destinations.top.push_back(d);
  for (uint32_t pid : {10u, 11u}) {
    ProcessUsage p;
    p.pid = pid;
    p.name = "w3wp.exe";
    p.ephemeral_ports = 100 + pid;
    p.states[static_cast<int>(TcpState::kTimeWait)] = 1;
    r.processes.top.push_back(p);
  }
  r.events.counters.push_back({"Tcpip.4227", 3, 0});
  HostSample s = SampleFromReport(r);
  EXPECT_EQ(s.unix_ms, 1234);
  EXPECT_EQ(s.ports_in_use, 700u);
  EXPECT_EQ(s.ports_usable, 28232u);
  EXPECT_EQ(s.time_wait, 42u);
  r.sockets.inbound_time_wait = 12;  // on a listener's port: no ephemeral port behind them
  EXPECT_EQ(SampleFromReport(r).time_wait, 30u);
  ASSERT_EQ(s.destinations.size(), 1u);
  EXPECT_EQ(s.destinations[0].key, "10.0.4.12:1433");
  EXPECT_EQ(s.destinations[0].ports, 300u);
  EXPECT_EQ(s.destinations[0].time_wait, 30u);
  ASSERT_EQ(s.processes.size(), 1u) << "two pids of one program are one process";
  EXPECT_EQ(s.processes[0].ports, 221u);
  EXPECT_EQ(s.processes[0].time_wait, 2u);
  ASSERT_EQ(s.counters.size(), 1u);
  EXPECT_EQ(s.counters[0].value, 3u);
}

}  // namespace
}  // namespace portwatch::analysis
