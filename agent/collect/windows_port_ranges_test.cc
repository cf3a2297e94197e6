// netsh outputs as Windows prints them, in English and German. The fixtures in
// testdata/windows/ are reconstructed from Microsoft's documentation and published examples of
// these commands (see testdata/README.md), not recorded on a host.
#include "collect/windows_port_ranges.h"

#include <gtest/gtest.h>

#include "collect/windows_mapping.h"
#include "portwatch/files.h"

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

}  // namespace
}  // namespace portwatch::agent::win
