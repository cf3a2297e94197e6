// netsh outputs as Windows prints them, in English and German. The fixtures in
// testdata/windows/ are reconstructed from Microsoft's documentation and published examples of
// these commands (see testdata/README.md), not recorded on a host.
#include "collect/windows_port_ranges.h"

#include <gtest/gtest.h>

#include "collect/windows_mapping.h"
#include "portwatch/files.h"
#include "src/summary.h"

namespace portwatch::agent::win {
namespace {

std::string Fixture(const std::string& name) {
  auto text = ReadFileLimited(std::string(PORTWATCH_FIXTURES) + "/windows/" + name, 1 << 16,
                              "fixture");
  EXPECT_TRUE(text.ok()) << text.error();
  return text.ok() ? *text : "";
}

TEST(NetshDynamicPort, ReadsTheNumbersWhateverTheLanguage) {
  auto en = ParseNetshDynamicPort(Fixture("netsh_dynamicport_tcp_en.txt"));
  ASSERT_TRUE(en.ok()) << en.error();
  EXPECT_EQ(*en, (PortRange{49152, 65535}));
  auto de = ParseNetshDynamicPort(Fixture("netsh_dynamicport_tcp_de.txt"));
  ASSERT_TRUE(de.ok()) << de.error();
  EXPECT_EQ(*de, (PortRange{10000, 65534}));
}

TEST(NetshDynamicPort, RefusesOutputWithoutARange) {
  EXPECT_FALSE(ParseNetshDynamicPort("").ok());
  EXPECT_FALSE(ParseNetshDynamicPort("The requested operation requires elevation.\r\n").ok());
  auto past = ParseNetshDynamicPort("Start Port : 60000\r\nNumber of Ports : 16384\r\n");
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.error().find("outside 1-65535"), std::string::npos);
}

TEST(NetshExcludedPortRange, ClipsMergesAndKeepsAdministeredExclusions) {
  const PortRange dynamic{49152, 65535};
  auto en = ParseNetshExcludedPortRanges(Fixture("netsh_excludedportrange_tcp_en.txt"), dynamic);
  ASSERT_TRUE(en.ok()) << en.error();
  // 1433 lies outside the dynamic range; 65400-65535 is inside; "*" lines count.
  EXPECT_EQ(*en, (std::vector<PortRange>{{49709, 49808}, {50000, 50059}, {65400, 65535}}));
  auto de = ParseNetshExcludedPortRanges(Fixture("netsh_excludedportrange_tcp_de.txt"), dynamic);
  ASSERT_TRUE(de.ok()) << de.error();
  EXPECT_EQ(*de, (std::vector<PortRange>{{49709, 49808}, {50000, 50059}}));
  auto merged = ParseNetshExcludedPortRanges("  50000 50010\r\n  50005 50020\r\n 50021 50021\r\n",
                                             dynamic);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, (std::vector<PortRange>{{50000, 50021}}));
  EXPECT_TRUE(ParseNetshExcludedPortRanges("\r\nProtocol tcp Port Exclusion Ranges\r\n", dynamic)
                  ->empty());
  EXPECT_FALSE(ParseNetshExcludedPortRanges("  50010 50000\r\n", dynamic).ok());
}

TEST(DocumentedDefault, DependsOnTheOsVersion) {
  EXPECT_EQ(DocumentedDefaultDynamicRange(10), (PortRange{49152, 65535}));
  EXPECT_EQ(DocumentedDefaultDynamicRange(6), (PortRange{49152, 65535}));
  EXPECT_EQ(DocumentedDefaultDynamicRange(5), (PortRange{1025, 5000}));
}

TEST(AssumedRange, TheConfigSnapshotSaysItIsAssumedAndWhy) {
  DynamicPorts d;
  d.source = "assumed";
  d.tcp = d.udp = DocumentedDefaultDynamicRange(6);
  d.unknown_reason = "the documented default of this Windows version, as neither WMI nor netsh "
                     "answered";
  d.tcp_excluded = {{50000, 50059}};
  ConfigSnapshot s = BuildWindowsConfig("Windows 6.1.7601 Service Pack 1", {}, d);
  auto find = [&](const std::string& key) -> const ConfigValue* {
    for (const ConfigValue& v : s.values) {
      if (v.key == key) return &v;
    }
    return nullptr;
  };
  ASSERT_NE(find("Tcpip.DynamicPortRange.Source"), nullptr);
  EXPECT_EQ(find("Tcpip.DynamicPortRange.Source")->string_value, "assumed");
  ASSERT_NE(find("Tcpip.DynamicPortRange.AssumedBecause"), nullptr);
  EXPECT_EQ(find("Tcpip.DynamicPortRange.AssumedBecause")->string_value, d.unknown_reason);
  EXPECT_EQ(find("Tcpip.DynamicPortRange.TCP.StartPort")->int_value, 49152);
  ASSERT_NE(find("Tcpip.DynamicPortRange.TCP.ExcludedPorts"), nullptr);
  EXPECT_EQ(find("Tcpip.DynamicPortRange.TCP.ExcludedPorts")->int_value, 60);
}

SocketEntry Established(uint16_t local_port) {
  SocketEntry e;
  e.state = TcpState::kEstablished;
  e.local_port = local_port;
  e.remote_port = 443;
  return e;
}

TEST(AutoReuseRange, WhereEnabledItIsTheCapacityAndThePortsCounted) {
  // Set-NetTCPSetting -AutoReusePortRangeStartPort 10000 -AutoReusePortRangeNumberOfPorts 1000,
  // with a Hyper-V style exclusion inside it.
  DynamicPorts d;
  d.source = "wmi";
  d.tcp = {49152, 65535};
  d.tcp_auto_reuse = {10000, 10999};
  d.tcp_excluded = {{10100, 10199}};
  auto ep = EphemeralPortsFor(d);
  ASSERT_TRUE(ep.ok()) << ep.error();
  EXPECT_EQ(ep->range, (PortRange{10000, 10999}));
  EXPECT_TRUE(ep->auto_reuse);
  EXPECT_EQ(ep->source, RangeSource::kWmi);
  EXPECT_EQ(ep->usable(), 900u);
  const std::vector<SocketEntry> sockets = {Established(10005), Established(10150),
                                            Established(50000)};
  SocketSummary s = BuildSummary(sockets, *ep);
  EXPECT_EQ(s.ephemeral_ports_in_use, 1u) << "10150 is excluded, 50000 is outside the range";
  EXPECT_EQ(s.ephemeral_ports_usable, 900u);
  EXPECT_TRUE(s.auto_reuse_range);
  EXPECT_EQ(s.range_source, RangeSource::kWmi);

  // Disabled (WMI reports 0 ports): the dynamic range applies again.
  d.tcp_auto_reuse = {};
  d.tcp_excluded = {};
  ep = EphemeralPortsFor(d);
  ASSERT_TRUE(ep.ok()) << ep.error();
  EXPECT_EQ(ep->range, (PortRange{49152, 65535}));
  EXPECT_FALSE(ep->auto_reuse);
  s = BuildSummary(sockets, *ep);
  EXPECT_EQ(s.ephemeral_ports_in_use, 1u) << "only 50000 is in the dynamic range";
  EXPECT_FALSE(s.auto_reuse_range);
}

TEST(RangeSource, EachWayOfReadingTheRangeIsNamedAndAnAssumedOneSaysWhy) {
  DynamicPorts d;
  d.tcp = {49152, 65535};
  const std::vector<std::pair<std::string, RangeSource>> sources = {
      {"wmi", RangeSource::kWmi},
      {"netsh", RangeSource::kNetsh},
      {"MaxUserPort", RangeSource::kRegistry},
      {"assumed", RangeSource::kAssumedDefault}};
  for (const auto& [name, source] : sources) {
    d.source = name;
    d.unknown_reason = name == "assumed" ? "neither WMI nor netsh answered" : "";
    auto ep = EphemeralPortsFor(d);
    ASSERT_TRUE(ep.ok()) << ep.error();
    EXPECT_EQ(ep->source, source) << name;
    EXPECT_EQ(ep->assumed_reason, d.unknown_reason) << name;
  }
  EXPECT_EQ(RangeSourceName(RangeSource::kAssumedDefault), "assumed_default");
  d.source = "";
  d.unknown_reason = "WMI timed out";
  auto none = EphemeralPortsFor(d);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("WMI timed out"), std::string::npos) << none.error();
}

}  // namespace
}  // namespace portwatch::agent::win
