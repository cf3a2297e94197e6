// Golden output of portwatchctl's tables with a fixed clock, in UTC.
#include "format.h"

#include <gtest/gtest.h>

namespace portwatch::ctl {
namespace {

constexpr int64_t kNow = 1'796'150'000'000;  // 2026-12-01 18:33:20 UTC

FormatOptions Opts() {
  FormatOptions o;
  o.now_unix_ms = kNow;
  o.utc = true;
  return o;
}

v1::HostInfo Host(const std::string& name, v1::HostState st, double eta_s) {
  v1::HostInfo h;
  h.set_host(name);
  h.set_state(st);
  h.set_ports_in_use(711);
  h.set_ports_usable(1000);
  h.set_utilization(0.711);
  h.set_last_seen_unix_ms(kNow - 12'000);
  h.set_state_since_unix_ms(kNow - 3 * 3'600'000);
  h.mutable_forecast()->set_valid(eta_s > 0);
  h.mutable_forecast()->set_growth_pct_per_hour(eta_s > 0 ? 3.1 : 0);
  h.mutable_forecast()->set_finite(eta_s > 0);
  h.mutable_forecast()->set_eta_seconds(eta_s);
  return h;
}

v1::ListHostsResponse Fleet() {
  v1::ListHostsResponse r;
  v1::HostInfo* w = r.add_hosts();
  *w = Host("web01", v1::HOST_STATE_DRIFTING, 9 * 3600);
  w->set_driver_process("w3wp.exe");
  w->set_driver_destination("10.0.4.12:1433");
  v1::HostInfo* e = r.add_hosts();
  *e = Host("evil\x1b[2J\x07", v1::HOST_STATE_OK, -1);
  e->set_reason("line1\nline2");
  r.set_total(2);
  return r;
}

TEST(PortwatchctlFormat, HostsGolden) {
  EXPECT_EQ(FormatHosts(Fleet(), Opts()),
            "HOST                         STATE        USED         PORTS    GROWTH   FULL IN  "
            "DRIVER / REASON\n"
            "web01                        drifting    71.1%      711/1000   +3.1%/h      ~9 h  "
            "w3wp.exe -> 10.0.4.12:1433\n"
            "evil\\x1b[2J\\x07              ok          71.1%      711/1000         -         -  "
            "line1\\x0aline2\n"
            "(2 of 2 hosts)\n");
}

// A right-to-left override (U+202E) in a name would make the terminal show the rest of the line
// reversed ("exe.txt" for "txt.exe"); it is escaped like a control character.
TEST(PortwatchctlFormat, BidirectionalOverridesAreEscaped) {
  v1::ListHostsResponse r;
  *r.add_hosts() = Host("web02", v1::HOST_STATE_OK, -1);
  r.mutable_hosts(0)->set_reason(
      "w3wp\xE2\x80\xAE"
      "exe.txt\xE2\x81\xA6"
      "x");
  r.set_total(1);
  const std::string out = FormatHosts(r, Opts());
  EXPECT_NE(out.find("w3wp\\u202eexe.txt\\u2066x\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("\xE2\x80\xAE"), std::string::npos);
}

TEST(PortwatchctlFormat, TopGoldenAndExitStatus) {
  v1::ListHostsResponse top;
  *top.add_hosts() = Fleet().hosts(0);
  top.set_total(5);
  FormatOptions o = Opts();
  o.colour = true;
  EXPECT_EQ(FormatHosts(top, o),
            "HOST                         STATE        USED         PORTS    GROWTH   FULL IN  "
            "DRIVER / REASON\n"
            "web01                        \x1b[33mdrifting\x1b[0m    71.1%      711/1000   "
            "+3.1%/h      ~9 h  w3wp.exe -> 10.0.4.12:1433\n"
            "(1 of 5 hosts)\n");
  EXPECT_EQ(TopExitStatus(top), 1);
  v1::ListHostsResponse quiet;
  *quiet.add_hosts() = Host("s1", v1::HOST_STATE_SILENT, -1);
  EXPECT_EQ(TopExitStatus(quiet), 0);
  EXPECT_EQ(TopExitStatus(v1::ListHostsResponse()), 0);
  top.mutable_hosts(0)->set_state(v1::HOST_STATE_EXHAUSTED);
  EXPECT_EQ(TopExitStatus(top), 1);
}

TEST(PortwatchctlFormat, HostsAreCappedUnlessAll) {
  v1::ListHostsResponse r;
  for (int i = 0; i < 60; ++i)
    *r.add_hosts() = Host("h" + std::to_string(i), v1::HOST_STATE_OK, -1);
  r.set_total(60);
  const std::string capped = FormatHosts(r, Opts());
  EXPECT_NE(capped.find("(50 of 60 hosts; --all shows all 60)\n"), std::string::npos);
  EXPECT_EQ(capped.find("h50 "), std::string::npos);
  FormatOptions all = Opts();
  all.all = true;
  EXPECT_NE(FormatHosts(r, all).find("(60 of 60 hosts)\n"), std::string::npos);
}

v1::SeriesInfo Series(const std::string& key, uint32_t ports, double util, double eta_s,
                      bool present) {
  v1::SeriesInfo s;
  s.set_key(key);
  s.set_ports(ports);
  s.set_present(present);
  s.set_utilization(util);
  s.mutable_forecast()->set_valid(true);
  s.mutable_forecast()->set_finite(eta_s > 0);
  s.mutable_forecast()->set_eta_seconds(eta_s);
  s.mutable_forecast()->set_growth_pct_per_hour(eta_s > 0 ? 5 : 0);
  return s;
}

TEST(PortwatchctlFormat, HostGoldenWorstFirstWithoutInboundNoise) {
  v1::HostDetail d;
  *d.mutable_info() = Fleet().hosts(0);
  d.mutable_info()->set_explanation("web01: 71% of 1000 ports, +3.1%/h, full in ~9 h");
  d.mutable_info()->set_reason("growing toward exhaustion");
  d.mutable_info()->set_os_version("Linux 6.1");
  d.mutable_info()->set_agent_version("0.1.0");
  *d.add_destinations() = Series("10.0.9.9:443", 300, 0.3, -1, true);
  *d.add_destinations() = Series("10.0.4.12:1433", 200, 0.2, 4 * 3600, true);
  *d.add_destinations() = Series("192.0.2.7:51234", 1, 0.001, -1, false);  // inbound TIME_WAIT
  *d.add_destinations() = Series("192.0.2.8:41234", 1, 0.001, -1, false);
  *d.add_processes() = Series("w3wp\x1b]0;pwned\x07.exe", 400, 0.4, 4 * 3600, true);
  v1::SocketSummary* sockets = d.mutable_last_report()->mutable_sockets();
  sockets->set_inbound_time_wait(442);
  v1::InboundPortUsage* in443 = sockets->add_inbound();
  in443->set_port(443);
  in443->add_states()->set_state(v1::TCP_STATE_ESTABLISHED);
  in443->mutable_states(0)->set_count(12);
  in443->add_states()->set_state(v1::TCP_STATE_TIME_WAIT);
  in443->mutable_states(1)->set_count(412);
  v1::InboundPortUsage* in22 = sockets->add_inbound();
  in22->set_port(22);
  in22->add_states()->set_state(v1::TCP_STATE_ESTABLISHED);  // open, no TIME_WAIT: not named
  in22->mutable_states(0)->set_count(3);
  v1::ConfigValue* v = d.mutable_config()->add_values();
  v->set_key("Tcpip.TcpTimedWaitDelay");
  d.mutable_config()->add_values()->set_key("Tcpip.MaxUserPort");
  d.mutable_config()->mutable_values(1)->set_int_value(65534);
  EXPECT_EQ(FormatHost(d, Opts()),
            "web01: 71% of 1000 ports, +3.1%/h, full in ~9 h\n"
            "state drifting since 15:33 UTC, 3 h ago (growing toward exhaustion); last report "
            "18:33 UTC, 12 s ago\n"
            "711 of 1000 usable ephemeral ports held (71.1%), growth +3.1%/h, full in ~9 h (at "
            "2026-12-02 03:33 UTC, in 9 h)\n"
            "inbound TIME_WAIT: 412 on :443, 30 on other listeners (this host closed accepted "
            "connections first; holds no ephemeral port)\n"
            "os Linux 6.1, agent 0.1.0\n"
            "\n"
            "DESTINATION                                    PORTS TIME_WAIT    USED    GROWTH   "
            "FULL IN\n"
            "10.0.4.12:1433                                   200         0   20.0%   +5.0%/h   "
            "   ~4 h\n"
            "10.0.9.9:443                                     300         0   30.0%   +0.0%/h   "
            "      -\n"
            "(2 one-port entries not in the latest report hidden; --all shows them)\n"
            "\n"
            "PROCESS                                        PORTS TIME_WAIT    USED    GROWTH   "
            "FULL IN\n"
            "w3wp\\x1b]0;pwned\\x07.exe                         400         0   40.0%   +5.0%/h   "
            "   ~4 h\n"
            "\n"
            "SETTINGS\n"
            "  Tcpip.TcpTimedWaitDelay                  (absent: OS default)\n"
            "  Tcpip.MaxUserPort                        65534\n");
  FormatOptions all = Opts();
  all.all = true;
  EXPECT_NE(FormatHost(d, all).find("192.0.2.7:51234"), std::string::npos);

  // Where the range came from, said under the ports line; an assumed one loudly.
  d.mutable_info()->set_ephemeral_range_source("assumed_default");
  d.mutable_info()->set_ephemeral_range_assumed(true);
  EXPECT_NE(FormatHost(d, Opts()).find("(at 2026-12-02 03:33 UTC, in 9 h)\nrange from "
                                       "assumed_default (ASSUMED: the OS version's documented "
                                       "default; nothing on the host answered)\ninbound TIME_WAIT"),
            std::string::npos)
      << FormatHost(d, Opts());
  d.mutable_info()->set_ephemeral_range_source("wmi");
  d.mutable_info()->set_ephemeral_range_assumed(false);
  d.mutable_info()->set_ephemeral_range_auto_reuse(true);
  EXPECT_NE(FormatHost(d, Opts()).find("range from wmi, AutoReusePortRange applies\n"),
            std::string::npos);
}

TEST(PortwatchctlFormat, HostListsEachDestinationsOwnerFromTheLatestReport) {
  v1::HostDetail d;
  *d.mutable_info() = Fleet().hosts(0);
  *d.add_destinations() = Series("10.0.4.12:1433", 200, 0.2, 4 * 3600, true);
  *d.add_destinations() = Series("[2001:db8::7]:443", 100, 0.1, -1, true);
  *d.add_destinations() = Series("10.0.9.9:443", 50, 0.05, -1, true);
  v1::Report* r = d.mutable_last_report();
  auto owner = [&](v1::AddressFamily family, const std::string& addr, uint32_t port,
                   const std::string& name, uint32_t pid, uint32_t live) {
    v1::DestinationUsage* u = r->add_top_destinations();
    u->mutable_remote()->set_family(family);
    u->mutable_remote()->set_addr(addr);
    u->mutable_remote()->set_port(port);
    u->set_top_process(name);
    u->set_top_process_pid(pid);
    u->set_top_process_connections(live);
  };
  owner(v1::ADDRESS_FAMILY_IPV4, std::string("\x0a\x00\x04\x0c", 4), 1433, "w3wp.exe", 4242, 180);
  // A name the agent's host controls: shown escaped, never as terminal control.
  std::string v6(16, '\0');
  v6[0] = '\x20';
  v6[1] = '\x01';
  v6[2] = '\x0d';
  v6[3] = '\xb8';
  v6[15] = '\x07';
  owner(v1::ADDRESS_FAMILY_IPV6, v6, 443, "evil\x1b[2J", 77, 90);
  // Malformed (a 3-byte address): no owner rather than a wrong one.
  owner(v1::ADDRESS_FAMILY_IPV4, std::string("\x0a\x00\x09", 3), 443, "ghost", 1, 1);
  const std::string out = FormatHost(d, Opts());
  EXPECT_NE(out.find("FULL IN  OWNER\n"), std::string::npos) << out;
  EXPECT_NE(out.find("   ~4 h  w3wp.exe (pid 4242, 180 live)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[2001:db8::7]:443"), std::string::npos) << out;
  EXPECT_NE(out.find("  evil\\x1b[2J (pid 77, 90 live)\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("\x1b[2J"), std::string::npos);
  EXPECT_EQ(out.find("ghost"), std::string::npos) << out;
  // No owner known (an older agent, or only TIME_WAIT toward it): no column.
  d.mutable_last_report()->clear_top_destinations();
  EXPECT_EQ(FormatHost(d, Opts()).find("OWNER"), std::string::npos);
}

TEST(PortwatchctlFormat, PageWindowsShownWhenBothForecast) {
  v1::HostDetail d;
  *d.mutable_info() = Fleet().hosts(0);
  EXPECT_EQ(FormatHost(d, Opts()).find("page windows"), std::string::npos) << "none: no line";
  d.mutable_info()->set_short_window_eta_seconds(1080);
  d.mutable_info()->set_long_window_eta_seconds(-1);
  EXPECT_EQ(FormatHost(d, Opts()).find("page windows"), std::string::npos) << "one: no line";
  d.mutable_info()->set_long_window_eta_seconds(3300);
  d.mutable_info()->set_trend_page(true);
  EXPECT_NE(FormatHost(d, Opts()).find("page windows: short full in 18 min, long full in 55 min "
                                       "(both within the hour: paging)\n"),
            std::string::npos)
      << FormatHost(d, Opts());
}

TEST(PortwatchctlFormat, InboundTimeWaitLineIsCappedAndAbsentWhenNone) {
  v1::HostDetail d;
  *d.mutable_info() = Fleet().hosts(0);
  EXPECT_EQ(FormatHost(d, Opts()).find("inbound"), std::string::npos) << "none: no line";
  v1::SocketSummary* s = d.mutable_last_report()->mutable_sockets();
  for (uint32_t port = 8000; port < 8007; ++port) {
    v1::InboundPortUsage* u = s->add_inbound();
    u->set_port(port);
    u->add_states()->set_state(v1::TCP_STATE_TIME_WAIT);
    u->mutable_states(0)->set_count(10);
  }
  s->set_inbound_time_wait(70);
  EXPECT_NE(FormatHost(d, Opts()).find("inbound TIME_WAIT: 10 on :8000, 10 on :8001, 10 on :8002, "
                                       "10 on :8003, 10 on :8004, 20 on other listeners ("),
            std::string::npos)
      << FormatHost(d, Opts());
  FormatOptions all = Opts();
  all.all = true;
  EXPECT_NE(FormatHost(d, all).find("10 on :8006 ("), std::string::npos) << FormatHost(d, all);
}

TEST(PortwatchctlFormat, WhenGivesDateForOtherDays) {
  EXPECT_EQ(When(kNow - 2 * 86'400'000, Opts()), "2026-11-29 18:33 UTC, 2 d ago");
  EXPECT_EQ(When(0, Opts()), "never");
}

}  // namespace
}  // namespace portwatch::ctl
