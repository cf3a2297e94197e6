#include "src/fleet_core.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <thread>

#include "src/fleet_metrics.h"
#include "src/settings_test_util.h"

namespace portwatch::collector {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000;  // a fixed collector clock for the tests

StateEvent Hello(const std::string& host, int64_t at) {
  StateEvent ev;
  ev.kind = StateEvent::Kind::kHello;
  ev.host = host;
  ev.received_unix_ms = at;
  ev.hello.hostname = host;
  ev.hello.os = OsKind::kLinux;
  ev.hello.os_version = "Linux 6.1";
  return ev;
}

StateEvent Stored(const std::string& host, uint64_t seq, int64_t at, uint32_t in_use,
                  const std::string& destination = "") {
  StateEvent ev;
  ev.kind = StateEvent::Kind::kReport;
  ev.host = host;
  ev.received_unix_ms = at;
  Report& r = ev.report;
  r.sequence = seq;
  r.collected_unix_ms = at;
  r.sockets.ephemeral_range = {32768, 60999};
  r.sockets.ephemeral_ports_usable = 28232;
  r.sockets.ephemeral_ports_in_use = in_use;
  if (!destination.empty()) {
    DestinationUsage d;
    EXPECT_TRUE(Endpoint::Parse(destination, &d.remote));
    d.local_ports = in_use;
    d.states[static_cast<int>(TcpState::kEstablished)] = in_use;
    r.destinations.top.push_back(d);
  }
  return ev;
}

class FleetCoreTest : public ::testing::Test {
 protected:
  void Make(FleetCoreOptions o = {}) {
    auto d = DriftMonitor::Create(analysis::Options{});
    ASSERT_TRUE(d.ok()) << d.error();
    drift_ = std::move(*d);
    core_ = std::make_unique<FleetCore>(fleet_, *drift_, views_, registry_, o);
  }
  void Step(std::vector<StateEvent> events, bool tick, int64_t now) {
    core_->Step(events, tick, now);
  }
  std::string Scrape() {
    return prometheus::TextSerializer().Serialize(
        RenderFleet(*views_.Current(), MetricsOptions{}, kT0));
  }

  FleetState fleet_;
  std::unique_ptr<DriftMonitor> drift_;
  ViewPublisher views_;
  prometheus::Registry registry_;
  std::unique_ptr<FleetCore> core_;
};

TEST_F(FleetCoreTest, HellosAndReportsReachTheViewInCommitOrder) {
  Make();
  EXPECT_TRUE(views_.Current()->hosts.empty());
  std::vector<StateEvent> batch;
  batch.push_back(Hello("web01", kT0));
  batch.push_back(Stored("web01", 1, kT0 + 1, 100));
  Step(std::move(batch), false, kT0 + 2);
  const auto view = views_.Current();
  EXPECT_EQ(view->generation, 1u);
  const HostView* h = view->Find("web01");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->hello.os_version, "Linux 6.1");
  ASSERT_TRUE(h->has_report());
  EXPECT_EQ(h->report->sockets.ephemeral_ports_in_use, 100u);
  ASSERT_NE(h->status, nullptr);  // analysed
  EXPECT_EQ(h->drift.state, analysis::HostState::kOk);
  EXPECT_EQ(view->state_counts[0], 1u);
  EXPECT_EQ(view->Find("db01"), nullptr);
}

TEST_F(FleetCoreTest, AReaderNeverSeesAHalfAppliedBatch) {
  FleetCoreOptions o;
  o.min_publish_interval_ms = 0;
  Make(o);
  core_->Start();
  constexpr int kHosts = 50, kBatches = 200;
  std::atomic<bool> done{false};
  std::atomic<int> views_read{0}, torn{0};
  std::thread reader([&] {
    uint64_t last_gen = 0;
    while (!done.load()) {
      const auto view = views_.Current();
      if (view->generation < last_gen) ++torn;  // views never go back
      last_gen = view->generation;
      if (view->hosts.empty()) continue;
      // Every batch gives every host the same sequence: a view holds one batch or the next.
      if (view->hosts.size() != kHosts) ++torn;
      const uint64_t seq = view->hosts.front()->report->sequence;
      for (const auto& h : view->hosts) {
        if (h->report->sequence != seq) ++torn;
      }
      ++views_read;
    }
  });
  for (int b = 1; b <= kBatches; ++b) {
    std::vector<StateEvent> batch;
    for (int i = 0; i < kHosts; ++i) {
      batch.push_back(Stored("h" + std::to_string(i), static_cast<uint64_t>(b), kT0 + b * 1000,
                             static_cast<uint32_t>(b)));
    }
    core_->Submit(std::move(batch));
  }
  core_->Stop();  // applies what is queued and publishes
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(views_read.load(), 0);
  const auto last = views_.Current();
  ASSERT_EQ(last->hosts.size(), static_cast<size_t>(kHosts));
  for (const auto& h : last->hosts) EXPECT_EQ(h->report->sequence, uint64_t{kBatches});
}

TEST_F(FleetCoreTest, OldViewsAreReleasedAndAHeldViewStaysIntact) {
  Make();
  Step({Stored("web01", 1, kT0, 10)}, false, kT0);
  std::weak_ptr<const FleetView> first = views_.Current();
  std::shared_ptr<const FleetView> held = views_.Current();
  Step({Stored("web01", 2, kT0 + 1000, 20)}, false, kT0 + 1000);
  // A reader that still holds the first view reads it unchanged.
  EXPECT_EQ(held->Find("web01")->report->sockets.ephemeral_ports_in_use, 10u);
  EXPECT_EQ(views_.Current()->Find("web01")->report->sockets.ephemeral_ports_in_use, 20u);
  EXPECT_FALSE(first.expired());
  held.reset();
  EXPECT_TRUE(first.expired());  // nobody holds it: freed
}

TEST_F(FleetCoreTest, SilenceHasOneDefinitionForStateCountsAndMetrics) {
  FleetCoreOptions o;
  o.silent_after_ms = analysis::Options{}.silent_after_ms;
  Make(o);
  Step({Hello("web01", kT0), Stored("web01", 1, kT0, 10), Hello("db01", kT0)}, true, kT0);
  EXPECT_EQ(views_.Current()->state_counts[static_cast<int>(analysis::HostState::kSilent)], 0u);
  // Both go quiet: the analysed host and the one known only from its hello.
  Step({}, true, kT0 + o.silent_after_ms + 1000);
  const auto view = views_.Current();
  EXPECT_TRUE(view->Find("web01")->silent());
  EXPECT_TRUE(view->Find("db01")->silent());
  EXPECT_EQ(view->state_counts[static_cast<int>(analysis::HostState::kSilent)], 2u);
  const std::string text = Scrape();
  EXPECT_NE(text.find("portwatch_host_state{host=\"web01\",state=\"silent\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("portwatch_host_state{host=\"db01\",state=\"silent\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("portwatch_fleet_silent_hosts 2"), std::string::npos);
  EXPECT_NE(text.find("portwatch_fleet_hosts_by_state{state=\"silent\"} 2"), std::string::npos);
  // A report lifts it.
  Step({Stored("web01", 2, kT0 + o.silent_after_ms + 2000, 11)}, false,
       kT0 + o.silent_after_ms + 2000);
  EXPECT_FALSE(views_.Current()->Find("web01")->silent());
}

TEST_F(FleetCoreTest, AHostPastRetentionLeavesStateAnalysisAndMetrics) {
  FleetCoreOptions o;
  o.forget_after_ms = 3'600'000;
  Make(o);
  Step({Stored("old01", 1, kT0, 10, "10.0.4.12:1433"), Stored("new01", 1, kT0, 10, "10.0.4.12:1433")},
       true, kT0);
  ASSERT_EQ(views_.Current()->destinations.size(), 1u);
  EXPECT_EQ(views_.Current()->destinations[0].hosts, 2u);
  const int64_t later = kT0 + 2 * 3'600'000;
  Step({Stored("new01", 2, later, 12, "10.0.4.12:1433")}, true, later);
  const auto view = views_.Current();
  EXPECT_EQ(view->Find("old01"), nullptr);
  ASSERT_EQ(view->hosts.size(), 1u);
  ASSERT_EQ(view->destinations.size(), 1u);
  EXPECT_EQ(view->destinations[0].hosts, 1u);  // its share left the fleet aggregate
  EXPECT_FALSE(drift_->Summary("old01").has_value());
  EXPECT_EQ(Scrape().find("old01"), std::string::npos);
  EXPECT_EQ(view->state_counts[0], 1u);
}

TEST_F(FleetCoreTest, AFullQueueDropsReportsNeverHellosAndCounts) {
  FleetCoreOptions o;
  o.max_queue = 1;
  Make(o);  // not started: nothing drains
  core_->Submit({Stored("web01", 1, kT0, 1), Stored("web01", 2, kT0, 2), Hello("db01", kT0),
                 Stored("web01", 3, kT0, 3)});
  double dropped = -1;
  for (const auto& f : registry_.Collect()) {
    if (f.name == "portwatch_publish_queue_dropped_total") dropped = f.metric[0].counter.value;
  }
  EXPECT_EQ(dropped, 2);
  core_->Start();
  core_->Stop();
  const auto view = views_.Current();
  ASSERT_NE(view->Find("db01"), nullptr);
  EXPECT_EQ(view->Find("web01")->report->sequence, 1u);
  EXPECT_EQ(view->events_dropped, 2u);
}

// After a restart, a host whose agent keeps running sends no settings until its next periodic
// snapshot (hourly): the ones fleet state restored stand in, and the agent's own replace them.
TEST_F(FleetCoreTest, RestoredSettingsCoverReportsUntilTheAgentSendsItsOwn) {
  Make();
  HostView restored;
  restored.host = "win01";
  restored.config = std::make_shared<const ConfigSnapshot>(WindowsTimeWaitSettings(30));
  fleet_.Restore(std::move(restored));
  std::vector<StateEvent> batch;
  batch.push_back(Stored("win01", 1, kT0, 100));
  Step(std::move(batch), false, kT0 + 1);
  auto h = drift_->Host("win01", kT0 + 1);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->time_wait_s, 30);
  EXPECT_EQ(h->time_wait_source, "TcpTimedWaitDelay");

  batch.push_back(Stored("win01", 2, kT0 + 15'000, 100));
  batch.back().report.has_config = true;
  batch.back().report.config = WindowsTimeWaitSettings(240);
  batch.push_back(Stored("win01", 3, kT0 + 30'000, 100));
  Step(std::move(batch), false, kT0 + 30'001);
  EXPECT_EQ(drift_->Host("win01", kT0 + 30'001)->time_wait_s, 240)
      << "the restored settings must not override the agent's newer ones";
}

// Reports are analysed in receipt order. One dated before its host's newest (the agent's clock
// stepped back, or two agents share one identity) is counted; reports in order are not.
TEST_F(FleetCoreTest, ReportsDatedBeforeTheHostsNewestAreCountedOutOfOrder) {
  Make();
  std::vector<StateEvent> batch;
  batch.push_back(Stored("web01", 1, kT0, 100));
  batch.push_back(Stored("web01", 2, kT0 + 15'000, 100));
  batch.push_back(Stored("db01", 1, kT0 + 1'000, 100));  // another host's clock: not compared
  Step(std::move(batch), false, kT0 + 15'001);
  EXPECT_EQ(views_.Current()->out_of_order_reports, 0u);
  EXPECT_NE(Scrape().find("portwatch_analysis_out_of_order_reports_total 0"), std::string::npos);

  batch.push_back(Stored("web01", 3, kT0 + 30'000, 100));
  batch.back().report.collected_unix_ms = kT0 + 5'000;  // dated before report 2
  batch.push_back(Stored("web01", 4, kT0 + 45'000, 100));
  Step(std::move(batch), false, kT0 + 45'001);
  EXPECT_EQ(views_.Current()->out_of_order_reports, 1u);
  EXPECT_NE(Scrape().find("portwatch_analysis_out_of_order_reports_total 1"), std::string::npos);
  // The view keeps the newest-dated report; the analysis heard from the host at receipt time.
  const auto& web01 = views_.Current()->hosts.at(1);  // sorted by name: db01, web01
  ASSERT_EQ(web01->host, "web01");
  EXPECT_EQ(web01->report->sequence, 4u);
}

}  // namespace
}  // namespace portwatch::collector
