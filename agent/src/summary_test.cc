#include "src/summary.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

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

// A range read from the host, with its reserved blocks.
EphemeralPorts Ports(PortRange range, std::vector<PortRange> reserved) {
  EphemeralPorts p;
  p.range = range;
  p.reserved = std::move(reserved);
  return p;
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
  SocketSummary s = BuildSummary(v, Ports({50000, 50009}, {}));
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
  SocketSummary s = BuildSummary(v, Ports({50000, 50009}, {}));
  EXPECT_EQ(s.ephemeral_ports_in_use, 1u);
  EXPECT_EQ(s.total_sockets, 3u);
}

TEST(Summary, ReservedPortsAreNeitherUsableNorInUse) {
  std::vector<SocketEntry> v = {
      Sock(Family::kIpv4, TcpState::kListen, 50005),       // a service on a reserved port
      Sock(Family::kIpv4, TcpState::kEstablished, 50001, 80),
  };
  SocketSummary s = BuildSummary(v, Ports({50000, 50009}, {{50005, 50006}}));
  EXPECT_EQ(s.ephemeral_ports_usable, 8u);
  EXPECT_EQ(s.ephemeral_ports_in_use, 1u);
}

TEST(Summary, FullRangeIsFullUtilization) {
  std::vector<SocketEntry> v;
  for (uint16_t p = 60000; p <= 60099; ++p) {
    v.push_back(Sock(Family::kIpv4, TcpState::kTimeWait, p, 5432));
  }
  SocketSummary s = BuildSummary(v, Ports({60000, 60099}, {}));
  EXPECT_EQ(s.ephemeral_ports_in_use, 100u);
  EXPECT_DOUBLE_EQ(s.ephemeral_utilization(), 1.0);
}

TEST(Summary, EmptyTable) {
  SocketSummary s = BuildSummary({}, Ports({32768, 60999}, {}));
  EXPECT_EQ(s.total_sockets, 0u);
  EXPECT_EQ(s.ephemeral_ports_in_use, 0u);
  EXPECT_EQ(s.ephemeral_ports_usable, 28232u);
}

}  // namespace
}  // namespace portwatch::agent

namespace portwatch::agent {
namespace {

TEST(Usage, InboundConnectionsToAListenerInTheRangeAreNotDestinations) {
  // A service listening on 50005, inside the ephemeral range: its accepted connections use no
  // ephemeral port toward their clients. The client side (local 50001 -> 50005) is outbound.
  SocketEntry listen = Sock(Family::kIpv4, TcpState::kListen, 50005);
  SocketEntry accepted = Sock(Family::kIpv4, TcpState::kEstablished, 50005, 50001);
  SocketEntry client = Sock(Family::kIpv4, TcpState::kEstablished, 50001, 50005);
  Report r;
  BuildUsage({listen, accepted, client}, Ports({50000, 50009}, {}), nullptr, {}, &r);
  ASSERT_EQ(r.destinations.top.size(), 1u);
  EXPECT_EQ(r.destinations.top[0].remote.port, 50005);
  EXPECT_EQ(r.destinations.top[0].local_ports, 1u);
}

TEST(Usage, InboundTimeWaitIsCountedPerListenerNotAsDestinations) {
  // A web server that closes first: 30 TIME_WAIT on :443 (IPv4 and IPv6 listeners), each toward
  // a client's ephemeral port, plus 2 open; 5 on a listener inside the range (50005). Outbound:
  // 3 TIME_WAIT toward :5432 from ephemeral ports. Only those 3 are destination pressure.
  std::vector<SocketEntry> v = {Sock(Family::kIpv4, TcpState::kListen, 443),
                                Sock(Family::kIpv6, TcpState::kListen, 443),
                                Sock(Family::kIpv4, TcpState::kListen, 50005)};
  for (uint16_t i = 0; i < 30; ++i) {
    v.push_back(Sock(i % 2 ? Family::kIpv6 : Family::kIpv4, TcpState::kTimeWait, 443, 40000 + i));
  }
  v.push_back(Sock(Family::kIpv4, TcpState::kEstablished, 443, 41000));
  v.push_back(Sock(Family::kIpv4, TcpState::kEstablished, 443, 41001));
  for (uint16_t i = 0; i < 5; ++i) {
    v.push_back(Sock(Family::kIpv4, TcpState::kTimeWait, 50005, 42000 + i));
  }
  for (uint16_t i = 0; i < 3; ++i) {
    v.push_back(Sock(Family::kIpv4, TcpState::kTimeWait, 50010 + i, 5432));
  }
  UsageOptions opts;
  opts.top_inbound = 1;  // the cap keeps the worst listener; the total still counts all
  Report r;
  BuildUsage(v, Ports({50000, 50099}, {}), nullptr, opts, &r);

  ASSERT_EQ(r.destinations.top.size(), 1u);
  EXPECT_EQ(r.destinations.top[0].remote.port, 5432);
  EXPECT_EQ(r.destinations.top[0].local_ports, 3u);
  EXPECT_EQ(r.destinations.other_count, 0u);
  EXPECT_EQ(r.sockets.inbound_time_wait, 35u);
  ASSERT_EQ(r.sockets.inbound.size(), 1u);
  EXPECT_EQ(r.sockets.inbound[0].port, 443);
  EXPECT_EQ(r.sockets.inbound[0].states[static_cast<int>(TcpState::kTimeWait)], 30u);
  EXPECT_EQ(r.sockets.inbound[0].states[static_cast<int>(TcpState::kEstablished)], 2u);
  EXPECT_EQ(r.sockets.inbound[0].states[static_cast<int>(TcpState::kListen)], 0u);
  // All TIME_WAIT is still in the state counts: inbound is a part of it, not removed from it.
  EXPECT_EQ(r.sockets.count(Family::kIpv4, TcpState::kTimeWait) +
                r.sockets.count(Family::kIpv6, TcpState::kTimeWait),
            38u);

  opts.top_inbound = 10;
  BuildUsage(v, Ports({50000, 50099}, {}), nullptr, opts, &r);
  ASSERT_EQ(r.sockets.inbound.size(), 2u);
  EXPECT_EQ(r.sockets.inbound[1].port, 50005);
  EXPECT_EQ(r.sockets.inbound[1].states[static_cast<int>(TcpState::kTimeWait)], 5u);
  EXPECT_EQ(r.sockets.inbound_time_wait, 35u);  // a fresh count, not added to the last one
}

TEST(Usage, TopKFoldsTheRestAndCountsDistinctPorts) {
  std::vector<SocketEntry> v;
  // Destination port 1000 gets 5 connections from 5 ports, 2000 gets 3 (two share a port, in
  // TIME_WAIT and ESTABLISHED: one port), 3000 and 4000 get 1 each.
  for (uint16_t p = 0; p < 5; ++p) v.push_back(Sock(Family::kIpv4, TcpState::kEstablished, 50000 + p, 1000));
  v.push_back(Sock(Family::kIpv4, TcpState::kTimeWait, 50010, 2000));
  v.push_back(Sock(Family::kIpv4, TcpState::kEstablished, 50010, 2000));
  v.push_back(Sock(Family::kIpv4, TcpState::kEstablished, 50011, 2000));
  v.push_back(Sock(Family::kIpv4, TcpState::kEstablished, 50012, 3000));
  v.push_back(Sock(Family::kIpv4, TcpState::kSynSent, 50013, 4000));
  for (auto& e : v) e.owner_pid = e.remote_port == 1000 ? 7 : 8;
  UsageOptions opts;
  opts.top_destinations = 2;
  opts.top_processes = 1;
  Report r;
  BuildUsage(v, Ports({50000, 50099}, {}), nullptr, opts, &r);
  ASSERT_EQ(r.destinations.top.size(), 2u);
  EXPECT_EQ(r.destinations.top[0].remote.port, 1000);
  EXPECT_EQ(r.destinations.top[0].local_ports, 5u);
  EXPECT_EQ(r.destinations.top[1].remote.port, 2000);
  EXPECT_EQ(r.destinations.top[1].local_ports, 2u);
  EXPECT_EQ(r.destinations.top[1].total(), 3u);
  EXPECT_EQ(r.destinations.other_count, 2u);
  EXPECT_EQ(r.destinations.other.local_ports, 2u);
  EXPECT_EQ(r.destinations.other.states[static_cast<int>(TcpState::kSynSent)], 1u);
  ASSERT_EQ(r.processes.top.size(), 1u);
  EXPECT_EQ(r.processes.top[0].pid, 7u);  // 5 ports beat 4
  EXPECT_EQ(r.processes.top[0].ephemeral_ports, 5u);
  EXPECT_EQ(r.processes.top[0].name, "");  // no attribution given: pid known, name not
  EXPECT_EQ(r.processes.other_count, 1u);
  EXPECT_EQ(r.processes.other.ephemeral_ports, 4u);
}

TEST(Usage, UnattributedSocketsAreNamedNotDropped) {
  Report r;
  BuildUsage({Sock(Family::kIpv6, TcpState::kBound, 50003)}, Ports({50000, 50009}, {}),
             nullptr, {}, &r);
  ASSERT_EQ(r.processes.top.size(), 1u);
  EXPECT_EQ(r.processes.top[0].name, kUnattributedProcess);
  EXPECT_EQ(r.processes.top[0].ephemeral_ports, 1u);
  EXPECT_TRUE(r.destinations.top.empty());  // bound-only: no destination
}

// Names by pid, as the OS implementations give them after Attribute().
class NamedPids : public ProcessAttribution {
 public:
  explicit NamedPids(std::map<uint32_t, std::string> names) {
    for (auto& [pid, name] : names) infos_[pid] = {pid, name, ""};
  }
  Status Attribute(std::vector<SocketEntry>*) override { return Status::Ok(); }
  const ProcessInfo* Info(uint32_t pid) const override {
    auto it = infos_.find(pid);
    return it == infos_.end() ? nullptr : &it->second;
  }

 private:
  std::map<uint32_t, ProcessInfo> infos_;
};

// The churning client toward :1433 holds a few live connections at a time and leaves many
// TIME_WAIT (no owner); a collector-like process holds more ephemeral ports overall, toward
// another destination. Each destination names its own busiest program, pids of one program
// summed, and never takes TIME_WAIT or an unknown owner for one.
TEST(Usage, EachDestinationNamesTheProgramWithTheMostLiveConnectionsTowardIt) {
  std::vector<SocketEntry> v;
  uint16_t port = 50000;
  auto add = [&](TcpState st, uint16_t rport, uint32_t pid) {
    SocketEntry e = Sock(Family::kIpv4, st, port++, rport);
    e.owner_pid = pid;
    v.push_back(e);
  };
  for (int i = 0; i < 40; ++i) add(TcpState::kTimeWait, 1433, 0);  // churn: owner gone
  add(TcpState::kEstablished, 1433, 11);  // w3wp.exe, two worker pids: 2 + 1
  add(TcpState::kEstablished, 1433, 11);
  add(TcpState::kSynSent, 1433, 12);
  add(TcpState::kEstablished, 1433, 20);  // sqlcmd.exe: 2, fewer than w3wp's 3 together
  add(TcpState::kEstablished, 1433, 20);
  for (int i = 0; i < 4; ++i) add(TcpState::kEstablished, 1433, 0);   // unattributed
  for (int i = 0; i < 6; ++i) add(TcpState::kEstablished, 1433, 99);  // pid without a name
  for (int i = 0; i < 9; ++i) add(TcpState::kEstablished, 443, 30);   // the collector
  add(TcpState::kTimeWait, 8080, 0);  // only TIME_WAIT: no owner known
  NamedPids names({{11, "w3wp.exe"}, {12, "w3wp.exe"}, {20, "sqlcmd.exe"}, {30, "collector"}});
  Report r;
  BuildUsage(v, Ports({50000, 50999}, {}), &names, {}, &r);
  ASSERT_EQ(r.destinations.top.size(), 3u);
  const DestinationUsage& sql = r.destinations.top[0];
  ASSERT_EQ(sql.remote.port, 1433);
  EXPECT_EQ(sql.top_process, "w3wp.exe");
  EXPECT_EQ(sql.top_process_connections, 3u);
  EXPECT_EQ(sql.top_process_pid, 11u);  // the worker holding most of them
  const DestinationUsage& web = r.destinations.top[1];
  ASSERT_EQ(web.remote.port, 443);
  EXPECT_EQ(web.top_process, "collector");
  EXPECT_EQ(web.top_process_connections, 9u);
  const DestinationUsage& idle = r.destinations.top[2];
  ASSERT_EQ(idle.remote.port, 8080);
  EXPECT_EQ(idle.top_process, "");
  EXPECT_EQ(idle.top_process_connections, 0u);
  // The host's biggest process is not what names the churn toward :1433.
  EXPECT_EQ(r.processes.top[0].pid, 0u);  // unattributed: 40 TIME_WAIT + 4

  // Without attribution (pids only) no name is invented.
  BuildUsage(v, Ports({50000, 50999}, {}), nullptr, {}, &r);
  for (const DestinationUsage& d : r.destinations.top) EXPECT_EQ(d.top_process, "");
}

}  // namespace
}  // namespace portwatch::agent
