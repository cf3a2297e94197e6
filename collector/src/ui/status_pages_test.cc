#include "src/ui/status_pages.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/ui/text_format.h"

namespace portwatch::collector::ui {
namespace {

using analysis::HostState;

HostRow Row(const std::string& name, HostState state, double eta_s = analysis::kNever) {
  HostRow r;
  r.status.host = name;
  r.status.state = state;
  r.status.last_sample_ms = 1'000'000'000'000;
  r.status.last_seen_ms = 1'000'000'000'000;
  r.status.ports.ports = 500;
  r.status.ports.capacity = 1000;
  r.status.ports.utilization = 0.5;
  if (eta_s != analysis::kNever) {
    r.status.headline_fit.trend.valid = true;
    r.status.headline_fit.trend.pct_per_hour = 10;
    r.status.headline_fit.forecast.finite = true;
    r.status.headline_fit.forecast.eta_s = eta_s;
  }
  return r;
}

std::vector<HostRow> Rows(size_t ok_hosts);

FleetView Fleet(size_t ok_hosts, const FleetQuery& q = FleetQuery{}) {
  FleetView f;
  f.total = ok_hosts + 1;
  SelectPage(Rows(ok_hosts), q, &f);
  f.now_unix_ms = 1'000'000'000'000;
  f.state_counts[static_cast<int>(HostState::kDrifting)] = 1;
  f.state_counts[static_cast<int>(HostState::kOk)] = static_cast<uint32_t>(ok_hosts);
  return f;
}

std::vector<HostRow> Rows(size_t ok_hosts) {
  std::vector<HostRow> rows;
  HostRow bad = Row("web<01>", HostState::kDrifting, 3 * 3600);
  bad.status.driver_process = "<script>alert(1)</script>";
  bad.status.driver_destination = "10.0.4.12:1433";
  rows.push_back(bad);
  for (size_t i = 0; i < ok_hosts; ++i)
    rows.push_back(Row("ok" + std::to_string(i), HostState::kOk));
  return rows;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(StatusPages, FleetRowShowsStateEtaDriverAndEscapesAgentText) {
  const std::string page = RenderFleetPage(Fleet(2), FleetQuery{});
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt; &rarr; 10.0.4.12:1433"),
            std::string::npos);
  EXPECT_NE(page.find("data-host=\"web&lt;01&gt;\""), std::string::npos);
  EXPECT_NE(page.find("href=\"/host/web%3C01%3E\""), std::string::npos);
  EXPECT_NE(page.find("(in 3 h)"), std::string::npos);
  EXPECT_NE(page.find("2001-09-09 04:46 UTC"), std::string::npos);  // now + 3 h
  EXPECT_LT(page.find("web&lt;01&gt;"), page.find("ok0"));
}

TEST(StatusPages, FleetIsPaginatedAndFiltered) {
  FleetQuery q = ParseFleetQuery("", "", "2", "100");
  std::string page = RenderFleetPage(Fleet(250, q), q);
  EXPECT_EQ(Count(page, "<tr class=host"), 100u);
  EXPECT_NE(page.find("page 2 of 3 (251 hosts)"), std::string::npos);
  EXPECT_NE(page.find("rel=next href=\"/?page=3&amp;per=100\""), std::string::npos);
  EXPECT_NE(page.find("data-host=\"ok99\""), std::string::npos);  // row 101 of 251
  q = ParseFleetQuery("drifting", "", "", "");
  page = RenderFleetPage(Fleet(250, q), q);
  EXPECT_EQ(Count(page, "<tr class=host"), 1u);
  q = ParseFleetQuery("", "ok24", "", "");
  page = RenderFleetPage(Fleet(250, q), q);
  EXPECT_EQ(Count(page, "<tr class=host"), 11u);  // ok24, ok240..ok249
  // Bad input falls back to defaults instead of failing.
  q = ParseFleetQuery("sideways", "", "-3", "999999999999");
  EXPECT_EQ(q.state, "");
  EXPECT_EQ(q.page, 1u);
  EXPECT_EQ(q.per_page, 100u);
  EXPECT_EQ(ParseFleetQuery("", "", "", "5000").per_page, kMaxPerPage);
}

TEST(StatusPages, HostPageDrawsCurveForecastAndMarksDefaults) {
  HostDetailView d;
  d.row = Row("db01", HostState::kDrifting, 600);
  d.row.status.ports.fit = d.row.status.headline_fit;
  d.row.status.ports.fit.trend.level = 500;
  d.row.status.ports.fit.forecast.eta_early_s = 400;
  d.row.status.ports.fit.forecast.eta_late_s = 900;
  d.row.status.explanation = "db01: 50% of 1000 ports, driven by <x>";
  d.has_config = true;
  d.config.values.push_back({"net.ipv4.tcp_fin_timeout", false, ConfigValue::Type::kInt, 0, ""});
  d.config.values.push_back({"net.ipv4.tcp_tw_reuse", true, ConfigValue::Type::kInt, 2, ""});
  d.has_report = true;
  d.last_report.events.counters.push_back({"Tcpip.4227", 3, 1'000'000'000'000 - 7200'000});
  std::vector<HistoryPoint> h;
  for (int i = 0; i < 40; ++i) {
    h.push_back({1'000'000'000'000 - (40 - i) * 15'000, static_cast<uint32_t>(300 + 5 * i), 1000,
                 static_cast<uint32_t>(i), 10});
  }
  const std::string page = RenderHostPage(d, h, "", 1'000'000'000'000);
  EXPECT_NE(page.find("<polyline id=curve data-points=40 "), std::string::npos);
  EXPECT_NE(page.find("<line id=forecast "), std::string::npos);
  EXPECT_NE(page.find("<polygon id=forecast-interval "), std::string::npos);
  EXPECT_NE(page.find("<line id=capacity "), std::string::npos);
  EXPECT_NE(page.find("<polyline id=time-wait data-points=40 "), std::string::npos);
  EXPECT_NE(page.find("absent: OS default applies"), std::string::npos);
  EXPECT_NE(
      page.find("Tcpip.4227</td><td class=n>3</td><td><time datetime=\"2001-09-08T23:46:40Z\">"
                "2001-09-08 23:46 UTC</time> <span class=rel>(2 h ago)</span>"),
      std::string::npos);
  // Every time reads the same way: UTC date-time plus its age, never an age alone.
  EXPECT_NE(page.find("<th>Last seen</th><td><time datetime=\"2001-09-09T01:46:40Z\">2001-09-09 "
                      "01:46 UTC</time> <span class=rel>("),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("driven by &lt;x&gt;"), std::string::npos);
  EXPECT_EQ(page.find("id=inbound>"), std::string::npos) << "no inbound connections: no table";
  InboundUsage in443;
  in443.port = 443;
  in443.states[static_cast<int>(TcpState::kTimeWait)] = 412;
  in443.states[static_cast<int>(TcpState::kEstablished)] = 7;
  d.last_report.sockets.inbound.push_back(in443);
  d.last_report.sockets.inbound_time_wait = 420;
  const std::string with_inbound = RenderHostPage(d, h, "", 1'000'000'000'000);
  EXPECT_NE(with_inbound.find("<tr><td>:443</td><td class=n>412</td><td class=n>7</td>"),
            std::string::npos);
  EXPECT_NE(with_inbound.find("id=inbound-total>420 in TIME_WAIT on listening ports"),
            std::string::npos);
  EXPECT_NE(HostJson(d, h).find("\"inbound\":{\"ports\":[{\"established\":7,\"port\":443,"
                                "\"time_wait\":412}],\"time_wait\":420}"),
            std::string::npos)
      << HostJson(d, h);
  // Each destination's owning program, from the latest report, as text.
  EXPECT_EQ(page.find("<th>Owner</th>"), std::string::npos) << "no owner known: no column";
  analysis::SeriesStatus dest;
  dest.key = "10.0.4.12:1433";
  dest.present = true;
  dest.ports = 200;
  d.row.status.destinations.push_back(dest);
  DestinationUsage u;
  ASSERT_TRUE(Endpoint::Parse("10.0.4.12:1433", &u.remote));
  u.top_process = "<b>w3wp</b>";
  u.top_process_pid = 4242;
  u.top_process_connections = 180;
  d.last_report.destinations.top.push_back(u);
  const std::string with_owner = RenderHostPage(d, h, "", 1'000'000'000'000);
  EXPECT_NE(with_owner.find("<tr><td>10.0.4.12:1433</td><td class=owner>&lt;b&gt;w3wp&lt;/b&gt; "
                            "<span class=muted>(pid 4242, 180 live)</span></td><td class=n>200"),
            std::string::npos)
      << with_owner;
  // Without history the page says so rather than drawing an empty chart.
  EXPECT_NE(RenderHostPage(d, {}, "", 0).find("no stored reports yet"), std::string::npos);
  EXPECT_NE(RenderHostPage(d, {}, "disk <gone>", 0).find("disk &lt;gone&gt;"), std::string::npos);
}

TEST(StatusPages, JsonMirrorsTheQueryApiAndSurvivesInvalidUtf8) {
  FleetView f = Fleet(3);
  f.hosts[1].status.host = "bad\xff";  // as if an agent had sent it
  const auto j = nlohmann::json::parse(FleetJson(f, FleetQuery{}));
  EXPECT_EQ(j["total"], 4);
  EXPECT_EQ(j["hosts"][0]["state"], "drifting");
  EXPECT_EQ(j["hosts"][0]["driver_destination"], "10.0.4.12:1433");
  EXPECT_TRUE(j["hosts"][0]["forecast"]["finite"]);
  EXPECT_EQ(j["hosts"][1]["host"], "bad\xEF\xBF\xBD");
  const auto a = nlohmann::json::parse(AggregatesJson({{"10.0.4.12:1433", 3, 2, 100, 40, 1500}}));
  EXPECT_EQ(a["items"][0]["growth_per_hour"], 1.5);
}

TEST(Text, CleanTextBoundsAndNeutralisesControlCharacters) {
  EXPECT_EQ(text::CleanText("a\x1b[2Jb\n"), "a\\x1b[2Jb\\x0a");
  EXPECT_EQ(text::CleanText("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(text::CleanText("x\xC2\x9By"), "x\\u009by");                               // C1 CSI
  EXPECT_EQ(text::CleanText("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(text::CleanText("abcdef", 4), "abcd\xE2\x80\xA6");
  EXPECT_EQ(text::Html("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
  EXPECT_EQ(text::UrlComponent("a b/<c>"), "a%20b%2F%3Cc%3E");
}

TEST(Text, SpansAndRelativeTimes) {
  EXPECT_EQ(text::Span(40), "40 s");
  EXPECT_EQ(text::Span(25 * 60), "25 min");
  EXPECT_EQ(text::Span(3 * 3600), "3 h");
  EXPECT_EQ(text::Span(3 * 86400), "3 d");
  EXPECT_EQ(text::Relative(10'000'000, 10'000'000 - 3 * 3600'000), "in 3 h");
  EXPECT_EQ(text::Relative(10'000'000, 10'000'000 + 90'000), "90 s ago");
  EXPECT_EQ(text::DateTime(0, true), "1970-01-01 00:00");
}

}  // namespace
}  // namespace portwatch::collector::ui
