// The default policy's rules on host snapshots in the shape each agent sends (the keys of
// tcp_config_windows.cc / tcp_config_linux.cc, the OS version text of RtlGetVersion / uname),
// one that passes and one that fails each rule, with absent values per OS version and evidence
// met and not met; and the rule model's selectors, defaults and peer comparison.
#include "portwatch/policy/policy.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "portwatch/policy/default_policy.h"
#include "portwatch/policy/defaults.h"

namespace portwatch::policy {
namespace {

constexpr char k2003Sp2[] = "Windows 5.2.3790 Service Pack 2";
constexpr char k2008R2[] = "Windows 6.1.7601 Service Pack 1";
constexpr char k2019[] = "Windows 10.0.17763";
constexpr char k2022[] = "Windows 10.0.20348";
constexpr char kLinux61[] = "Linux 6.1.0-18-amd64";
constexpr char kLinux414[] = "Linux 4.14.0-1-amd64";

ConfigValue Int(const std::string& key, int64_t v) {
  ConfigValue c;
  c.key = key;
  c.present = true;
  c.int_value = v;
  return c;
}
ConfigValue Str(const std::string& key, const std::string& v) {
  ConfigValue c;
  c.key = key;
  c.present = true;
  c.type = ConfigValue::Type::kString;
  c.string_value = v;
  return c;
}
ConfigValue Absent(const std::string& key) {
  ConfigValue c;
  c.key = key;
  return c;
}

// A Windows host as the agent reports it: every Tcpip\Parameters value it reads (absent unless
// given) and, from Vista on, the WMI dynamic range.
HostFacts Windows(const std::string& name, const std::string& version, std::vector<ConfigValue> set,
                  int dynamic_ports = 16384) {
  HostFacts h;
  h.host = name;
  h.os = OsKind::kWindows;
  h.os_version = version;
  h.config.os_version = version;
  for (const char* k :
       {"TcpTimedWaitDelay", "MaxUserPort", "TcpNumConnections", "MaxFreeTcbs", "SynAttackProtect",
        "TcpMaxHalfOpen", "TcpMaxHalfOpenRetried", "TcpMaxConnectResponseRetransmissions",
        "EnableConnectionRateLimiting", "StrictTimeWaitSeqCheck"}) {
    const std::string key = std::string("Tcpip.") + k;
    auto it =
        std::find_if(set.begin(), set.end(), [&](const ConfigValue& v) { return v.key == key; });
    h.config.values.push_back(it != set.end() ? *it : Absent(key));
  }
  if (ParseOsVersion(OsKind::kWindows, version).parts[0] >= 6) {
    h.config.values.push_back(Str("Tcpip.DynamicPortRange.Source", "wmi"));
    h.config.values.push_back(Int("Tcpip.DynamicPortRange.TCP.StartPort", 65536 - dynamic_ports));
    h.config.values.push_back(Int("Tcpip.DynamicPortRange.TCP.NumberOfPorts", dynamic_ports));
  } else {
    h.config.values.push_back(Str("Tcpip.DynamicPortRange.Source", "MaxUserPort"));
  }
  return h;
}

HostFacts Linux(const std::string& name, std::vector<ConfigValue> set,
                const std::string& version = kLinux61) {
  HostFacts h;
  h.host = name;
  h.os = OsKind::kLinux;
  h.os_version = version;
  h.config.os_version = version;
  std::vector<ConfigValue> base = {Int("net.core.somaxconn", 4096),
                                   Str("net.ipv4.ip_local_port_range", "32768 60999"),
                                   Str("net.ipv4.ip_local_reserved_ports", ""),
                                   Int("net.ipv4.tcp_fin_timeout", 60),
                                   Int("net.ipv4.tcp_max_syn_backlog", 1024),
                                   Int("net.ipv4.tcp_syncookies", 1),
                                   Int("net.ipv4.tcp_tw_reuse", 2)};
  for (ConfigValue& b : base) {
    for (const ConfigValue& s : set) {
      if (s.key == b.key) b = s;
    }
  }
  h.config.values = base;
  return h;
}

std::vector<std::string> Rules(const HostFacts& h) {
  std::vector<std::string> ids;
  for (const Violation& v : EvaluateHost(DefaultPolicy(), h)) ids.push_back(v.rule_id);
  return ids;
}
bool Breaks(const HostFacts& h, const std::string& rule) {
  auto ids = Rules(h);
  return std::find(ids.begin(), ids.end(), rule) != ids.end();
}

TEST(DefaultPolicy, IsValidAndNamesASourceAndRemediationForEveryRule) {
  const Policy p = DefaultPolicy();
  ASSERT_TRUE(Validate(p).ok()) << Validate(p).message();
  EXPECT_GE(p.rules.size(), 19u);
  for (const Rule& r : p.rules) {
    EXPECT_FALSE(r.source.empty()) << r.id;
    EXPECT_FALSE(r.remediation.empty()) << r.id;
  }
}

TEST(DefaultPolicy, DefaultInstallsOfEveryOsVersionAreClean) {
  // Server 2003 out of the box has MaxUserPort 5000 (absent = default): that is the finding.
  EXPECT_EQ(Rules(Windows("w", k2003Sp2, {})),
            std::vector<std::string>{"windows-maxuserport-5000"});
  for (const char* v : {k2008R2, k2019, k2022}) {
    EXPECT_TRUE(Rules(Windows("w", v, {})).empty()) << v;
  }
  EXPECT_TRUE(Rules(Linux("l", {})).empty());
  EXPECT_TRUE(Rules(Linux("l", {}, kLinux414)).empty());
}

TEST(DefaultPolicy, DynamicRangeBelow16384) {
  EXPECT_TRUE(Breaks(Windows("w", k2019, {}, 4000), "windows-dynamic-range-small"));
  EXPECT_TRUE(Breaks(Windows("w", k2008R2, {}, 10000), "windows-dynamic-range-small"));
  EXPECT_FALSE(Breaks(Windows("w", k2022, {}, 16384), "windows-dynamic-range-small"));
  // Absent range on 2012+: the default 16384 applies.
  HostFacts h = Windows("w", k2022, {});
  h.config.values.erase(std::remove_if(h.config.values.begin(), h.config.values.end(),
                                       [](const ConfigValue& v) {
                                         return v.key.rfind("Tcpip.DynamicPortRange.TCP", 0) == 0;
                                       }),
                        h.config.values.end());
  EXPECT_FALSE(Breaks(h, "windows-dynamic-range-small"));
}

TEST(DefaultPolicy, MaxUserPortOn2003) {
  EXPECT_TRUE(Breaks(Windows("w", k2003Sp2, {}), "windows-maxuserport-5000"));  // absent
  EXPECT_TRUE(
      Breaks(Windows("w", k2003Sp2, {Int("Tcpip.MaxUserPort", 5000)}), "windows-maxuserport-5000"));
  EXPECT_FALSE(Breaks(Windows("w", k2003Sp2, {Int("Tcpip.MaxUserPort", 65534)}),
                      "windows-maxuserport-5000"));
  // Ignored from Vista on, so not judged there even when absent.
  EXPECT_FALSE(Breaks(Windows("w", k2008R2, {}), "windows-maxuserport-5000"));
}

HostFacts WithTimeWait(HostFacts h, double share) {
  h.observations["time_wait_share"] = share;
  return h;
}

TEST(DefaultPolicy, TimedWaitDelayNeedsTimeWaitPressure) {
  const std::string rule = "windows-timed-wait-delay-long";
  // 2003: absent means 240 s; with pressure it is critical, without it is not flagged.
  EXPECT_TRUE(Breaks(WithTimeWait(Windows("w", k2003Sp2, {}), 0.6), rule));
  EXPECT_FALSE(Breaks(WithTimeWait(Windows("w", k2003Sp2, {}), 0.1), rule));
  EXPECT_FALSE(Breaks(Windows("w", k2003Sp2, {}), rule));  // no observations at all
  EXPECT_FALSE(Breaks(
      WithTimeWait(Windows("w", k2003Sp2, {Int("Tcpip.TcpTimedWaitDelay", 30)}), 0.9), rule));
  // 2019 / 2022 / 2008 R2: absent means 120 s.
  for (const char* v : {k2008R2, k2019, k2022}) {
    EXPECT_TRUE(Breaks(WithTimeWait(Windows("w", v, {}), 0.5), rule)) << v;
    EXPECT_TRUE(
        Breaks(WithTimeWait(Windows("w", v, {Int("Tcpip.TcpTimedWaitDelay", 240)}), 0.5), rule));
    EXPECT_FALSE(
        Breaks(WithTimeWait(Windows("w", v, {Int("Tcpip.TcpTimedWaitDelay", 60)}), 0.5), rule));
  }
  auto v = EvaluateHost(DefaultPolicy(), WithTimeWait(Windows("w", k2003Sp2, {}), 0.6));
  auto it = std::find_if(v.begin(), v.end(), [&](const Violation& x) { return x.rule_id == rule; });
  ASSERT_NE(it, v.end());
  EXPECT_EQ(it->severity, Severity::kCritical);
  EXPECT_NE(it->detail.find("Tcpip.TcpTimedWaitDelay=240 (absent: the OS default)"),
            std::string::npos)
      << it->detail;
  EXPECT_NE(it->remediation.find("/v TcpTimedWaitDelay /t REG_DWORD /d 30"), std::string::npos);
}

TEST(DefaultPolicy, TimedWaitDelayWithRising4227) {
  const std::string rule = "windows-timed-wait-delay-4227";
  HostFacts h = Windows("w", k2008R2, {});  // absent: 120 s
  h.observations["event.Tcpip.4227"] = 40;
  h.observations["event_delta.Tcpip.4227"] = 0;  // old events, none now
  EXPECT_FALSE(Breaks(h, rule));
  h.observations["event_delta.Tcpip.4227"] = 3;
  EXPECT_TRUE(Breaks(h, rule));
  HostFacts short_wait = Windows("w", k2022, {Int("Tcpip.TcpTimedWaitDelay", 30)});
  short_wait.observations["event_delta.Tcpip.4227"] = 3;
  EXPECT_FALSE(Breaks(short_wait, rule));
}

TEST(DefaultPolicy, ConnectionRateLimiting) {
  HostFacts on = Windows("w", k2008R2, {Int("Tcpip.EnableConnectionRateLimiting", 1)});
  EXPECT_TRUE(Breaks(on, "windows-connection-rate-limiting"));
  EXPECT_FALSE(Breaks(on, "windows-connection-rate-limit-hit"));  // no 4226 seen
  on.observations["event.Tcpip.4226"] = 3;
  EXPECT_TRUE(Breaks(on, "windows-connection-rate-limit-hit"));
  on.observations["event.Tcpip.4226"] = 0;
  EXPECT_FALSE(Breaks(on, "windows-connection-rate-limit-hit"));
  EXPECT_FALSE(Breaks(Windows("w", k2019, {}), "windows-connection-rate-limiting"));  // absent = 0
  EXPECT_FALSE(Breaks(Windows("w", k2022, {Int("Tcpip.EnableConnectionRateLimiting", 0)}),
                      "windows-connection-rate-limiting"));
}

TEST(DefaultPolicy, SynAttackProtectOn2003) {
  const std::string rule = "windows2003-syn-protect-low-half-open";
  HostFacts h = Windows("w", k2003Sp2, {Int("Tcpip.TcpMaxHalfOpen", 100)});
  h.observations["syn_recv"] = 80;  // busy
  // SP2: SynAttackProtect absent means 1 (on by default from SP1).
  EXPECT_TRUE(Breaks(h, rule));
  h.observations["syn_recv"] = 5;  // quiet: evidence not met
  EXPECT_FALSE(Breaks(h, rule));
  // RTM: absent means 0, the protection is off.
  HostFacts rtm = Windows("w", "Windows 5.2.3790", {Int("Tcpip.TcpMaxHalfOpen", 100)});
  rtm.observations["syn_recv"] = 80;
  EXPECT_FALSE(Breaks(rtm, rule));
  rtm.config.values[4] = Int("Tcpip.SynAttackProtect", 1);
  EXPECT_TRUE(Breaks(rtm, rule));
  // Default limits (absent: 500 / 400) are not low.
  HostFacts def = Windows("w", k2003Sp2, {});
  def.observations["syn_recv"] = 80;
  EXPECT_FALSE(Breaks(def, rule));
  EXPECT_FALSE(Breaks(def, "windows2003-syn-protect-low-half-open-retried"));
  HostFacts retried = Windows("w", k2003Sp2, {Int("Tcpip.TcpMaxHalfOpenRetried", 80)});
  retried.observations["syn_recv"] = 80;
  EXPECT_TRUE(Breaks(retried, "windows2003-syn-protect-low-half-open-retried"));
}

TEST(DefaultPolicy, StaleSynHardeningOnVistaAndLaterIsInfo) {
  HostFacts h = Windows("w", k2019,
                        {Int("Tcpip.SynAttackProtect", 1), Int("Tcpip.TcpMaxHalfOpen", 100),
                         Int("Tcpip.TcpMaxHalfOpenRetried", 80)});
  h.observations["syn_recv"] = 500;
  auto v = EvaluateHost(DefaultPolicy(), h);
  std::vector<std::string> ids;
  for (const Violation& x : v) {
    ids.push_back(x.rule_id);
    EXPECT_EQ(x.severity, Severity::kInfo) << x.rule_id;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"windows-stale-syn-attack-protect",
                                           "windows-stale-max-half-open",
                                           "windows-stale-max-half-open-retried"}));
  // Absent on 2022: nothing stale. On 2003 the same values are live settings, not stale.
  EXPECT_TRUE(Rules(Windows("w", k2022, {})).empty());
  EXPECT_FALSE(Breaks(Windows("w", k2003Sp2, {Int("Tcpip.SynAttackProtect", 1)}),
                      "windows-stale-syn-attack-protect"));
}

TEST(DefaultPolicy, LinuxPortRangeAndReservedPorts) {
  EXPECT_TRUE(Breaks(Linux("l", {Str("net.ipv4.ip_local_port_range", "50000 60000")}),
                     "linux-port-range-narrow"));
  EXPECT_FALSE(Breaks(Linux("l", {Str("net.ipv4.ip_local_port_range", "1024 65000")}),
                      "linux-port-range-narrow"));
  EXPECT_TRUE(Breaks(Linux("l", {Str("net.ipv4.ip_local_reserved_ports", "30000-50000")}),
                     "linux-reserved-ports-most-of-range"));
  EXPECT_FALSE(Breaks(Linux("l", {Str("net.ipv4.ip_local_reserved_ports", "8080,9000-9010")}),
                      "linux-reserved-ports-most-of-range"));
  // A kernel without the reserved-ports file: nothing reserved.
  HostFacts old = Linux("l", {Absent("net.ipv4.ip_local_reserved_ports")}, kLinux414);
  EXPECT_FALSE(Breaks(old, "linux-reserved-ports-most-of-range"));
}

TEST(DefaultPolicy, LinuxSyncookiesAndBacklogs) {
  EXPECT_TRUE(Breaks(Linux("l", {Int("net.ipv4.tcp_syncookies", 0)}), "linux-syncookies-off"));
  EXPECT_FALSE(Breaks(Linux("l", {Int("net.ipv4.tcp_syncookies", 2)}), "linux-syncookies-off"));
  HostFacts tiny =
      Linux("l", {Int("net.ipv4.tcp_max_syn_backlog", 64), Int("net.core.somaxconn", 16)});
  EXPECT_FALSE(Breaks(tiny, "linux-syn-backlog-tiny"));  // overflows not rising
  tiny.observations["event_delta.TcpExt.ListenOverflows"] = 0;
  EXPECT_FALSE(Breaks(tiny, "linux-somaxconn-tiny"));
  tiny.observations["event_delta.TcpExt.ListenOverflows"] = 12;
  EXPECT_TRUE(Breaks(tiny, "linux-syn-backlog-tiny"));
  EXPECT_TRUE(Breaks(tiny, "linux-somaxconn-tiny"));
  // Before 5.4 an absent somaxconn is 128 (tiny); from 5.4 on it is 4096.
  HostFacts old = Linux("l", {Absent("net.core.somaxconn")}, kLinux414);
  old.observations["event_delta.TcpExt.ListenOverflows"] = 3;
  EXPECT_TRUE(Breaks(old, "linux-somaxconn-tiny"));
  HostFacts recent = Linux("l", {Absent("net.core.somaxconn")});
  recent.observations["event_delta.TcpExt.ListenOverflows"] = 3;
  EXPECT_FALSE(Breaks(recent, "linux-somaxconn-tiny"));
}

TEST(DefaultPolicy, LinuxTwReuseWithOutboundTimeWait) {
  const std::string rule = "linux-tw-reuse-off-outbound";
  HostFacts h = Linux("l", {Int("net.ipv4.tcp_tw_reuse", 0)});
  h.observations["time_wait_share"] = 0.4;
  h.observations["destination_time_wait_share"] = 0.95;
  EXPECT_TRUE(Breaks(h, rule));
  h.observations["destination_time_wait_share"] = 0.3;  // spread over many destinations
  EXPECT_FALSE(Breaks(h, rule));
  HostFacts reuse = Linux("l", {});  // 2: the 4.19+ default
  reuse.observations = {{"time_wait_share", 0.4}, {"destination_time_wait_share", 0.95}};
  EXPECT_FALSE(Breaks(reuse, rule));
  // Before 4.19 an absent tcp_tw_reuse means 0.
  HostFacts old = Linux("l", {Absent("net.ipv4.tcp_tw_reuse")}, kLinux414);
  old.observations = {{"time_wait_share", 0.4}, {"destination_time_wait_share", 0.95}};
  EXPECT_TRUE(Breaks(old, rule));
}

TEST(Effective, DefaultsTablePerWindowsEra) {
  const ConfigSnapshot empty;
  auto tw = [&](const char* v) {
    return Effective(OsKind::kWindows, ParseOsVersion(OsKind::kWindows, v), empty,
                     "Tcpip.TcpTimedWaitDelay");
  };
  EXPECT_EQ(tw(k2003Sp2).number, 240);
  EXPECT_EQ(tw(k2008R2).number, 120);
  EXPECT_EQ(tw(k2019).number, 120);
  EXPECT_TRUE(tw(k2022).is_default);
  EXPECT_FALSE(tw(k2022).default_source.empty());
  EXPECT_FALSE(tw("Windows (version unknown: RtlGetVersion failed)").known);
  const OsVersion v2003 = ParseOsVersion(OsKind::kWindows, k2003Sp2);
  EXPECT_EQ(v2003.windows_build(), 3790);
  EXPECT_EQ(v2003.service_pack, 2);
  EXPECT_EQ(Effective(OsKind::kWindows, v2003, empty, "ephemeral.ports").number, 3976);
}

TEST(Selectors, OsVersionRangeHostGlobAndLabels) {
  Policy p;
  Rule r;
  r.id = "r";
  r.title = "t";
  r.selector.os = OsKind::kLinux;
  r.selector.version = {"4.19", "5.10"};
  r.selector.hosts = {"web*", "db-?"};
  r.selector.labels = {{"role", "web"}};
  r.when.push_back(MakeCondition("net.ipv4.tcp_syncookies", Op::kEq, 1));
  p.rules.push_back(r);
  ASSERT_TRUE(Validate(p).ok());
  HostFacts h = Linux("web01", {}, "Linux 5.4.0-100-generic");
  h.labels = {{"role", "web"}, {"dc", "x"}};
  EXPECT_EQ(EvaluateHost(p, h).size(), 1u);
  HostFacts db = h;
  db.host = "db-1";
  EXPECT_EQ(EvaluateHost(p, db).size(), 1u);
  db.host = "db-12";
  EXPECT_TRUE(EvaluateHost(p, db).empty());  // ? is one character
  HostFacts other_label = h;
  other_label.labels["role"] = "db";
  EXPECT_TRUE(EvaluateHost(p, other_label).empty());
  EXPECT_TRUE(EvaluateHost(p, Linux("web01", {}, "Linux 4.14.0")).empty());  // below min
  EXPECT_TRUE(EvaluateHost(p, Linux("web01", {}, "Linux 5.15.0")).empty());  // above max
  HostFacts win = Windows("web01", k2019, {});
  win.labels = h.labels;
  EXPECT_TRUE(EvaluateHost(p, win).empty());  // other OS
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "axxbyy"));
}

TEST(Selectors, WindowsBuildRange) {
  Policy p;
  Rule r;
  r.id = "r";
  r.title = "t";
  r.selector.os = OsKind::kWindows;
  r.selector.version = {"6000", "7601"};
  r.when.push_back(MakeCondition("Tcpip.TcpTimedWaitDelay", Op::kGe, 0));
  p.rules.push_back(r);
  EXPECT_EQ(EvaluateHost(p, Windows("w", k2008R2, {})).size(), 1u);
  EXPECT_TRUE(EvaluateHost(p, Windows("w", k2003Sp2, {})).empty());
  EXPECT_TRUE(EvaluateHost(p, Windows("w", k2019, {})).empty());
}

TEST(Peer, FlagsTheHostThatDiffersFromItsGroupsMajority) {
  const Policy p = DefaultPolicy();
  std::vector<HostFacts> fleet;
  for (int i = 0; i < 4; ++i) fleet.push_back(Windows("web0" + std::to_string(i), k2019, {}));
  fleet.push_back(Windows("web09", k2019, {Int("Tcpip.TcpTimedWaitDelay", 30)}));
  // A host of another OS version is its own group (too small to judge).
  fleet.push_back(Windows("old01", k2003Sp2,
                          {Int("Tcpip.MaxUserPort", 65534), Int("Tcpip.TcpTimedWaitDelay", 30)}));
  auto v = EvaluateFleet(p, fleet);
  std::vector<std::string> flagged;
  for (const Violation& x : v) {
    if (x.rule_id == "windows-peer-timed-wait-delay") flagged.push_back(x.host);
  }
  EXPECT_EQ(flagged, std::vector<std::string>{"web09"});
  auto it = std::find_if(v.begin(), v.end(), [](const Violation& x) { return x.host == "web09"; });
  ASSERT_NE(it, v.end());
  EXPECT_NE(it->detail.find("4 of 5 hosts"), std::string::npos) << it->detail;
  // Labels split groups: with a different role, web09 is alone and not compared.
  fleet[4].labels["role"] = "batch";
  for (const Violation& x : EvaluateFleet(p, fleet)) {
    EXPECT_NE(x.rule_id, "windows-peer-timed-wait-delay") << x.host;
  }
  // No strict majority (2 vs 2): nothing flagged.
  std::vector<HostFacts> split = {Windows("a", k2019, {}), Windows("b", k2019, {}),
                                  Windows("c", k2019, {Int("Tcpip.TcpTimedWaitDelay", 30)}),
                                  Windows("d", k2019, {Int("Tcpip.TcpTimedWaitDelay", 30)})};
  for (const Violation& x : EvaluateFleet(p, split)) {
    EXPECT_NE(x.rule_id, "windows-peer-timed-wait-delay");
  }
}

TEST(Observe, ReportGivesSharesAndCounterDeltas) {
  Report r;
  r.sockets.ephemeral_range = {50000, 59999};
  r.sockets.ephemeral_ports_usable = 10000;
  r.sockets.ephemeral_ports_in_use = 6000;
  r.sockets.counts[0][static_cast<int>(TcpState::kTimeWait)] = 5000;
  r.sockets.counts[0][static_cast<int>(TcpState::kSynRecv)] = 7;
  DestinationUsage d;
  d.local_ports = 4500;
  d.states[static_cast<int>(TcpState::kTimeWait)] = 4400;
  r.destinations.top.push_back(d);
  r.destinations.other.states[static_cast<int>(TcpState::kTimeWait)] = 100;
  r.events.counters.push_back({"TcpExt.ListenOverflows", 40, 0});
  Report prev = r;
  prev.events.counters[0].value = 10;
  auto o = ObserveReport(r, &prev);
  EXPECT_DOUBLE_EQ(o["time_wait_share"], 0.5);
  EXPECT_DOUBLE_EQ(o["ephemeral_utilization"], 0.6);
  EXPECT_DOUBLE_EQ(o["destination_share"], 0.45);
  EXPECT_NEAR(o["destination_time_wait_share"], 4400.0 / 4500, 1e-9);
  EXPECT_EQ(o["syn_recv"], 7);
  EXPECT_EQ(o["event.TcpExt.ListenOverflows"], 40);
  EXPECT_EQ(o["event_delta.TcpExt.ListenOverflows"], 30);
  EXPECT_EQ(ObserveReport(r).count("event_delta.TcpExt.ListenOverflows"), 0u);
}

}  // namespace
}  // namespace portwatch::policy
