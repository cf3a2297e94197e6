#include "collect/tcp_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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
  EphemeralPorts ep{range, *r};
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
