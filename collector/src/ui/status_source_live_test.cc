// The live source: its policy overview from a real PolicyMonitor (default policy) and the fleet
// page's section rendered from it (counts by severity, worst first, bounded, escaped, linked);
// the /api/destinations and /api/processes filters over a published view.
#include "src/ui/status_source_live.h"

#include <gtest/gtest.h>

#include <set>

#include "portwatch/policy/default_policy.h"
#include "src/settings_test_util.h"
#include "src/ui/status_pages.h"

namespace portwatch::collector::ui {
namespace {

int Rank(const std::string& severity) {
  return severity == "critical" ? 2 : severity == "warning" ? 1 : 0;
}

TEST(LiveStatusSource, FleetCarriesThePolicyAuditWorstFirstAndBounded) {
  PolicyMonitor policy(policy::DefaultPolicy());
  const std::string evil = "<img src=x onerror=alert(1)>";
  for (const std::string& host : {std::string("a1"), evil, std::string("z9")}) {
    policy.OnReport(host, LinuxPolicyReport(0, 0));
    policy.OnReport(host, LinuxPolicyReport(0, 50));  // rising overflows: evidence for a second rule
  }
  policy.OnReport("fine", LinuxPolicyReport(1, 0));
  policy.Tick();
  const PolicyResults& results = *policy.Results();
  ASSERT_GE(results.violations.size(), 6u);

  ViewPublisher views;
  LiveStatusSource source(views, nullptr, &policy);
  FleetView f = source.Fleet(1'000'000'000'000, FleetQuery{}, 4);
  ASSERT_TRUE(f.policy.audited);
  EXPECT_EQ(f.policy.critical + f.policy.warning + f.policy.info, results.violations.size());
  std::set<std::string> violating;
  for (const policy::Violation& v : results.violations) violating.insert(v.host);
  EXPECT_EQ(f.policy.hosts, violating.size());
  EXPECT_GE(f.policy.hosts, 3u);
  ASSERT_EQ(f.policy.worst.size(), 4u) << "bounded by the limit";
  for (size_t i = 1; i < f.policy.worst.size(); ++i) {
    EXPECT_GE(Rank(f.policy.worst[i - 1].severity), Rank(f.policy.worst[i].severity));
  }
  EXPECT_EQ(Rank(f.policy.worst[0].severity), f.policy.critical  ? 2
                                              : f.policy.warning ? 1
                                                                 : 0)
      << "the worst severity comes first";
  EXPECT_FALSE(f.policy.worst[0].detail.empty());
  EXPECT_FALSE(f.policy.worst[0].remediation.empty());

  const std::string page = RenderFleetPage(f, FleetQuery{});
  EXPECT_NE(page.find("<h2>Policy violations</h2>"), std::string::npos);
  EXPECT_NE(page.find("data-critical=" + std::to_string(f.policy.critical) +
                      " data-warning=" + std::to_string(f.policy.warning)),
            std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos) << "a host name is text, never markup";
  EXPECT_NE(page.find("href=\"/host/a1\">a1</a>"), std::string::npos);
  EXPECT_NE(page.find("the worst 4 of " + std::to_string(results.violations.size())),
            std::string::npos);
  size_t rows = 0;
  for (size_t p = page.find("<tr data-severity="); p != std::string::npos;
       p = page.find("<tr data-severity=", p + 1)) {
    ++rows;
  }
  EXPECT_EQ(rows, 4u);

  // Without an audit the page says nothing of policy.
  LiveStatusSource no_policy(views, nullptr);
  EXPECT_FALSE(no_policy.Fleet(0, FleetQuery{}, 4).policy.audited);
  EXPECT_EQ(
      RenderFleetPage(no_policy.Fleet(0, FleetQuery{}, 4), FleetQuery{}).find("Policy violations"),
      std::string::npos);
}

analysis::SeriesStatus Series(const std::string& key, uint32_t ports, bool present, bool growing) {
  analysis::SeriesStatus s;
  s.key = key;
  s.ports = ports;
  s.time_wait = ports / 2;
  s.present = present;
  s.fit.growing = growing;
  s.fit.trend.valid = true;
  s.fit.trend.per_hour = growing ? 10 : 0;
  return s;
}

// Three hosts: web01 and web02 both talk to the database, db01 to a cache; web02's old series
// toward 10.0.0.9 is no longer in its latest report.
void Publish(ViewPublisher* views) {
  auto view = std::make_shared<collector::FleetView>();
  auto add = [&](const std::string& name, std::vector<analysis::SeriesStatus> dests,
                 std::vector<analysis::SeriesStatus> procs) {
    auto h = std::make_shared<HostView>();
    h->host = name;
    auto st = std::make_shared<analysis::HostStatus>();
    st->host = name;
    st->destinations = std::move(dests);
    st->processes = std::move(procs);
    h->status = st;
    view->hosts.push_back(h);
  };
  add("db01", {Series("10.0.0.7:6379", 40, true, false)}, {Series("postgres", 40, true, false)});
  add("web01", {Series("10.0.4.12:5432", 300, true, true), Series("10.0.0.7:6379", 5, true, false)},
      {Series("nginx", 305, true, true)});
  add("web02", {Series("10.0.4.12:5432", 100, true, false), Series("10.0.0.9:443", 9, false, true)},
      {Series("nginx", 109, true, false)});
  views->Publish(view);
}

TEST(LiveStatusSource, AggregatesAreFilteredByHostAndKeyAndLimited) {
  ViewPublisher views;
  Publish(&views);
  LiveStatusSource source(views, nullptr);
  AggregateQuery q = ParseAggregateQuery("web", "", "");
  auto d = source.Aggregates(AggregateKind::kDestinations, q);
  ASSERT_EQ(d.size(), 2u) << "web hosts only; the series gone from web02's report is left out";
  EXPECT_EQ(d[0].key, "10.0.4.12:5432");  // growing on one host: first
  EXPECT_EQ(d[0].hosts, 2u);
  EXPECT_EQ(d[0].ports, 400u);
  EXPECT_EQ(d[0].time_wait, 200u);
  EXPECT_EQ(d[0].growing_hosts, 1u);
  EXPECT_EQ(d[0].growth_milli_per_hour, 10'000);
  EXPECT_EQ(d[1].key, "10.0.0.7:6379");
  EXPECT_EQ(d[1].ports, 5u) << "db01's 40 are not summed: it is not a web host";

  q = ParseAggregateQuery("", "6379", "");
  d = source.Aggregates(AggregateKind::kDestinations, q);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hosts, 2u);
  EXPECT_EQ(d[0].ports, 45u);

  auto p = source.Aggregates(AggregateKind::kProcesses, ParseAggregateQuery("", "", "5000"));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, "nginx");
  EXPECT_EQ(p[0].ports, 414u);
  EXPECT_EQ(source.Aggregates(AggregateKind::kProcesses, ParseAggregateQuery("db", "", "1"))[0].key,
            "postgres");
  EXPECT_TRUE(
      source.Aggregates(AggregateKind::kProcesses, ParseAggregateQuery("nohost", "", "")).empty());
  // Bad limits fall back to the default; huge ones are capped.
  EXPECT_EQ(ParseAggregateQuery("", "", "-1").limit, 50u);
  EXPECT_EQ(ParseAggregateQuery("", "", "abc").limit, 50u);
  EXPECT_EQ(ParseAggregateQuery("", "", "999999").limit, kMaxAggregateLimit);
  EXPECT_EQ(ParseAggregateQuery("", "", "0").limit, 1u);
  EXPECT_EQ(ParseAggregateQuery(std::string(1000, 'h'), "", "").host.size(), 256u);
}

TEST(LiveStatusSource, UnfilteredAggregatesAreTheViewsOwnRanking) {
  ViewPublisher views;
  auto view = std::make_shared<collector::FleetView>();
  for (int i = 0; i < 5; ++i) {
    analysis::FleetAggregate a;
    a.key = "10.0.0." + std::to_string(i) + ":443";
    a.hosts = 5 - i;
    view->destinations.push_back(a);
  }
  views.Publish(view);
  LiveStatusSource source(views, nullptr);
  auto d = source.Aggregates(AggregateKind::kDestinations, ParseAggregateQuery("", "", "3"));
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].key, "10.0.0.0:443");
  EXPECT_EQ(d[2].key, "10.0.0.2:443");
}

}  // namespace
}  // namespace portwatch::collector::ui
