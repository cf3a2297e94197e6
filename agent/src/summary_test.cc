#include "src/summary.h"

#include <gtest/gtest.h>

namespace portwatch::agent {
namespace {

SocketEntry Sock(Family f, TcpState s, uint16_t lport, uint16_t rport = 0) {
  SocketEntry e;
  e.family = f;
  e.state = s;
  e.local_port = lport;
  e.remote_port = rport;
  return e;
}

TEST(Summary, CountsByFamilyAndState) {
  std::vector<SocketEntry> v = {
      Sock(Family::kIpv4, TcpState::kListen, 80),
      Sock(Family::kIpv4, TcpState::kEstablished, 80, 50000),
      Sock(Family::kIpv4, TcpState::kEstablished, 50000, 80),
      Sock(Family::kIpv6, TcpState::kTimeWait, 50001, 443),
      Sock(Family::kIpv6, TcpState::kBound, 50002),
      Sock(Family::kIpv4, TcpState::kSynSent, 50003, 443),
      Sock(Family::kIpv4, TcpState::kUnknown, 50004),
  };
  SocketSummary s = BuildSummary(v, EphemeralPorts{{50000, 50009}, {}});
  EXPECT_EQ(s.count(Family::kIpv4, TcpState::kListen), 1u);
  EXPECT_EQ(s.count(Family::kIpv4, TcpState::kEstablished), 2u);
  EXPECT_EQ(s.count(Family::kIpv6, TcpState::kTimeWait), 1u);
  EXPECT_EQ(s.count(Family::kIpv6, TcpState::kBound), 1u);
  EXPECT_EQ(s.count(Family::kIpv4, TcpState::kSynSent), 1u);
  EXPECT_EQ(s.total_sockets, 6u);  // the unknown-state socket is not counted
  EXPECT_EQ(s.ephemeral_range.low, 50000);
  EXPECT_EQ(s.ephemeral_ports_usable, 10u);
  // 50000..50003 held; 80 is outside the range; the unknown-state socket holds nothing known.
  EXPECT_EQ(s.ephemeral_ports_in_use, 4u);
  EXPECT_DOUBLE_EQ(s.ephemeral_utilization(), 0.4);
}

TEST(Summary, APortHeldTwiceCountsOnce) {
  // Two connections from the same local port to different destinations (allowed on Linux), and
  // an IPv4 and IPv6 socket on the same port: one port held.
  std::vector<SocketEntry> v = {
      Sock(Family::kIpv4, TcpState::kEstablished, 50000, 80),
      Sock(Family::kIpv4, TcpState::kEstablished, 50000, 443),
      Sock(Family::kIpv6, TcpState::kTimeWait, 50000, 80),
  };
  SocketSummary s = BuildSummary(v, EphemeralPorts{{50000, 50009}, {}});
  EXPECT_EQ(s.ephemeral_ports_in_use, 1u);
  EXPECT_EQ(s.total_sockets, 3u);
}

TEST(Summary, ReservedPortsAreNeitherUsableNorInUse) {
  std::vector<SocketEntry> v = {
      Sock(Family::kIpv4, TcpState::kListen, 50005),       // a service on a reserved port
      Sock(Family::kIpv4, TcpState::kEstablished, 50001, 80),
  };
  SocketSummary s = BuildSummary(v, EphemeralPorts{{50000, 50009}, {{50005, 50006}}});
  EXPECT_EQ(s.ephemeral_ports_usable, 8u);
  EXPECT_EQ(s.ephemeral_ports_in_use, 1u);
}

TEST(Summary, FullRangeIsFullUtilization) {
  std::vector<SocketEntry> v;
  for (uint16_t p = 60000; p <= 60099; ++p) {
    v.push_back(Sock(Family::kIpv4, TcpState::kTimeWait, p, 5432));
  }
  SocketSummary s = BuildSummary(v, EphemeralPorts{{60000, 60099}, {}});
  EXPECT_EQ(s.ephemeral_ports_in_use, 100u);
  EXPECT_DOUBLE_EQ(s.ephemeral_utilization(), 1.0);
}

TEST(Summary, EmptyTable) {
  SocketSummary s = BuildSummary({}, EphemeralPorts{{32768, 60999}, {}});
  EXPECT_EQ(s.total_sockets, 0u);
  EXPECT_EQ(s.ephemeral_ports_in_use, 0u);
  EXPECT_EQ(s.ephemeral_ports_usable, 28232u);
}

}  // namespace
}  // namespace portwatch::agent
