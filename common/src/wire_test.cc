#include "portwatch/wire.h"

#include <gtest/gtest.h>

namespace portwatch {
namespace {

Report Sample() {
  Report r;
  r.sequence = 7;
  r.collected_unix_ms = 1700000000123;
  r.sockets.counts[0][static_cast<int>(TcpState::kEstablished)] = 10;
  r.sockets.counts[1][static_cast<int>(TcpState::kTimeWait)] = 3;
  r.sockets.counts[1][static_cast<int>(TcpState::kBound)] = 2;
  r.sockets.total_sockets = 15;
  r.sockets.ephemeral_range = {49152, 65535};
  r.sockets.ephemeral_ports_usable = 16384;
  r.sockets.ephemeral_ports_in_use = 12;
  r.health.reports_dropped_total = 4;
  r.health.reports_pending = 2;
  r.health.scan_duration_us = 900;
  return r;
}

TEST(Wire, ReportRoundTrips) {
  v1::Report p;
  ToProto(Sample(), &p);
  EXPECT_EQ(p.sockets().states_size(), 3);  // only non-zero pairs travel
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.error();
  const Report& r = *back;
  EXPECT_EQ(r.sequence, 7u);
  EXPECT_EQ(r.collected_unix_ms, 1700000000123);
  EXPECT_EQ(r.sockets.count(Family::kIpv4, TcpState::kEstablished), 10u);
  EXPECT_EQ(r.sockets.count(Family::kIpv6, TcpState::kTimeWait), 3u);
  EXPECT_EQ(r.sockets.count(Family::kIpv6, TcpState::kBound), 2u);
  EXPECT_EQ(r.sockets.ephemeral_range.high, 65535);
  EXPECT_EQ(r.sockets.ephemeral_ports_in_use, 12u);
  EXPECT_EQ(r.health.reports_dropped_total, 4u);
  EXPECT_EQ(r.health.scan_duration_us, 900u);
}

// Each mutation turns a valid report into one no real host can send; each must be refused with a
// message that names the problem.
TEST(Wire, AbsurdReportsAreRefusedWithAReason) {
  struct Case {
    const char* expect;
    void (*mutate)(v1::Report*);
  };
  const Case cases[] = {
      {"sequence 0", [](v1::Report* p) { p->set_sequence(0); }},
      {"no socket summary", [](v1::Report* p) { p->clear_sockets(); }},
      {"not a valid port range",
       [](v1::Report* p) { p->mutable_sockets()->mutable_ephemeral_range()->set_low(70000); }},
      {"not a valid port range",
       [](v1::Report* p) { p->mutable_sockets()->mutable_ephemeral_range()->set_high(100); }},
      {"exceed the range size",
       [](v1::Report* p) { p->mutable_sockets()->set_ephemeral_ports_in_use(20000); }},
      {"exceed the range size",
       [](v1::Report* p) { p->mutable_sockets()->set_ephemeral_ports_usable(20000); }},
      {"differs from the sum", [](v1::Report* p) { p->mutable_sockets()->set_total_sockets(1); }},
      {"unknown TCP state",
       [](v1::Report* p) { p->mutable_sockets()->mutable_states(0)->set_state(v1::TcpState(99)); }},
      {"unknown address family",
       [](v1::Report* p) {
         p->mutable_sockets()->mutable_states(0)->set_family(v1::ADDRESS_FAMILY_UNSPECIFIED);
       }},
      {"not plausible",
       [](v1::Report* p) { p->mutable_sockets()->mutable_states(0)->set_count(4000000000u); }},
      {"appears twice",
       [](v1::Report* p) {
         *p->mutable_sockets()->add_states() = p->sockets().states(0);
       }},
  };
  for (const Case& c : cases) {
    v1::Report p;
    ToProto(Sample(), &p);
    c.mutate(&p);
    auto r = FromProto(p);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << r.error();
  }
}

TEST(Wire, HelloValidation) {
  AgentHello h;
  h.hostname = "web01";
  h.instance_id = "abc";
  h.os = OsKind::kWindows;
  h.interval_ms = 15000;
  v1::Hello p;
  ToProto(h, &p);
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->hostname, "web01");
  EXPECT_EQ(back->os, OsKind::kWindows);
  p.set_hostname("");
  EXPECT_FALSE(FromProto(p).ok());
  p.set_hostname("web01");
  p.set_instance_id("");
  EXPECT_FALSE(FromProto(p).ok());
}

}  // namespace
}  // namespace portwatch
