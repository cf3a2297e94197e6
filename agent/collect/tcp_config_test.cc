#include "collect/tcp_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

namespace portwatch::agent {
namespace {

TEST(PortRangeText, ParsesKernelFormat) {
  auto r = ParsePortRangeText("32768\t60999\n");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->low, 32768);
  EXPECT_EQ(r->high, 60999);
  EXPECT_EQ(r->size(), 28232u);
}

TEST(PortRangeText, RejectsNonsense) {
  for (const char* bad : {"", "32768", "abc def", "60999 32768", "0 100", "1 70000", "-1 5"}) {
    auto r = ParsePortRangeText(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("ip_local_port_range"), std::string::npos);
  }
}

TEST(ReservedPorts, ClipsMergesAndCounts) {
  PortRange range{1000, 1999};
  auto r = ParseReservedPortsText("5,1990-2100,1000,1001-1003,1500\n", range);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], (PortRange{1000, 1003}));
  EXPECT_EQ((*r)[1], (PortRange{1500, 1500}));
  EXPECT_EQ((*r)[2], (PortRange{1990, 1999}));
  EphemeralPorts ep;
  ep.range = range;
  ep.reserved = *r;
  EXPECT_EQ(ep.usable(), 1000u - 4 - 1 - 10);
}

TEST(ReservedPorts, EmptyMeansNone) {
  auto r = ParseReservedPortsText("\n", PortRange{1, 10});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ReservedPorts, RejectsGarbage) {
  EXPECT_FALSE(ParseReservedPortsText("80,x", PortRange{1, 100}).ok());
  EXPECT_FALSE(ParseReservedPortsText("90-80", PortRange{1, 100}).ok());
}

TEST(EphemeralPorts, ReadsFromARootDirectory) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("pw_tcpcfg_" + std::to_string(::getpid()));
  fs::create_directories(root / "proc/sys/net/ipv4");
  std::ofstream(root / "proc/sys/net/ipv4/ip_local_port_range") << "40000\t40099\n";
  std::ofstream(root / "proc/sys/net/ipv4/ip_local_reserved_ports") << "40010-40019\n";
  auto ep = ReadEphemeralPorts(root.string());
  ASSERT_TRUE(ep.ok()) << ep.error();
  EXPECT_EQ(ep->range.size(), 100u);
  EXPECT_EQ(ep->usable(), 90u);
  fs::remove(root / "proc/sys/net/ipv4/ip_local_port_range");
  auto missing = ReadEphemeralPorts(root.string());
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot open ip_local_port_range"), std::string::npos);
  fs::remove_all(root);
}

}  // namespace
}  // namespace portwatch::agent

namespace portwatch::agent {
namespace {

TEST(TcpConfig, ReadsTypedValuesAndAbsentIsNotZero) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("pw_tcpconf_" + std::to_string(::getpid()));
  fs::create_directories(root / "proc/sys/net/ipv4");
  fs::create_directories(root / "proc/sys/net/core");
  fs::create_directories(root / "proc/sys/kernel");
  std::ofstream(root / "proc/sys/kernel/osrelease") << "6.1.0-test\n";
  std::ofstream(root / "proc/sys/net/ipv4/ip_local_port_range") << "32768\t60999\n";
  std::ofstream(root / "proc/sys/net/ipv4/tcp_fin_timeout") << "60\n";
  std::ofstream(root / "proc/sys/net/ipv4/tcp_tw_reuse") << "2\n";
  std::ofstream(root / "proc/sys/net/core/somaxconn") << "4096\n";
  auto snap = ReadTcpConfig(root.string());
  ASSERT_TRUE(snap.ok()) << snap.error();
  EXPECT_EQ(snap->os_version, "Linux 6.1.0-test");
  std::map<std::string, ConfigValue> by_key;
  for (const auto& v : snap->values) by_key[v.key] = v;
  EXPECT_TRUE(by_key.at("net.ipv4.tcp_fin_timeout").present);
  EXPECT_EQ(by_key.at("net.ipv4.tcp_fin_timeout").int_value, 60);
  EXPECT_EQ(by_key.at("net.ipv4.tcp_tw_reuse").int_value, 2);
  EXPECT_EQ(by_key.at("net.core.somaxconn").int_value, 4096);
  EXPECT_EQ(by_key.at("net.ipv4.ip_local_port_range").type, ConfigValue::Type::kString);
  EXPECT_EQ(by_key.at("net.ipv4.ip_local_port_range").string_value, "32768 60999");
  EXPECT_FALSE(by_key.at("net.ipv4.tcp_max_tw_buckets").present);  // no such file here
  for (size_t i = 1; i < snap->values.size(); ++i) {
    EXPECT_LT(snap->values[i - 1].key, snap->values[i].key);
  }
  // A value that is not a number is an error naming the sysctl.
  std::ofstream(root / "proc/sys/net/ipv4/tcp_fin_timeout") << "sixty\n";
  auto bad = ReadTcpConfig(root.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("net.ipv4.tcp_fin_timeout"), std::string::npos);
  fs::remove_all(root);
}

TEST(TcpConfig, ReadsThisHost) {
  auto snap = ReadTcpConfig();
  ASSERT_TRUE(snap.ok()) << snap.error();
  EXPECT_EQ(snap->os_version.rfind("Linux ", 0), 0u);
  bool range = false;
  for (const auto& v : snap->values) range |= v.key == "net.ipv4.ip_local_port_range" && v.present;
  EXPECT_TRUE(range);
}

}  // namespace
}  // namespace portwatch::agent
