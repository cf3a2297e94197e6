#include "portwatch/wire.h"

#include <gtest/gtest.h>

#include "portwatch/text.h"

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

TEST(Wire, RangeSourceAndAutoReuseRoundTripAndAnUnknownSourceIsNotAnError) {
  Report in = Sample();
  in.sockets.range_source = RangeSource::kNetsh;
  in.sockets.auto_reuse_range = true;
  v1::Report p;
  ToProto(in, &p);
  EXPECT_EQ(p.sockets().ephemeral_range_source(), v1::EPHEMERAL_RANGE_SOURCE_NETSH);
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->sockets.range_source, RangeSource::kNetsh);
  EXPECT_TRUE(back->sockets.auto_reuse_range);
  // A source a newer agent knows and this collector does not.
  p.mutable_sockets()->set_ephemeral_range_source(static_cast<v1::EphemeralRangeSource>(42));
  back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->sockets.range_source, RangeSource::kUnknown);
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

TEST(Wire, TopListsConfigAndEventsRoundTrip) {
  Report r = Sample();
  DestinationUsage d;
  ASSERT_TRUE(Endpoint::Parse("10.0.4.12:1433", &d.remote));
  d.states[static_cast<int>(TcpState::kTimeWait)] = 300;
  d.states[static_cast<int>(TcpState::kEstablished)] = 20;
  d.local_ports = 310;
  r.destinations.top.push_back(d);
  r.destinations.other.local_ports = 5;
  r.destinations.other_count = 2;
  ProcessUsage p;
  p.pid = 4242;
  p.name = "w3wp.exe";
  p.program = "C:\\Windows\\System32\\inetsrv\\w3wp.exe";
  p.states[static_cast<int>(TcpState::kBound)] = 900;
  p.ephemeral_ports = 900;
  r.processes.top.push_back(p);
  ListenerUsage l;
  ASSERT_TRUE(Endpoint::Parse("[::1]:443", &l.local));
  l.accept_queue = 128;
  l.backlog = 128;
  r.listeners.push_back(l);
  r.has_config = true;
  r.config.os_version = "6.1.0";
  r.config.values.push_back({"net.ipv4.tcp_fin_timeout", true, ConfigValue::Type::kInt, 60, ""});
  r.config.values.push_back({"Tcpip.MaxUserPort", false, ConfigValue::Type::kInt, 0, ""});
  r.events.counters.push_back({"TcpExt.TCPTimeWaitOverflow", 17, 0});
  r.events.degraded = true;
  r.events.degraded_reason = "no /dev/kmsg";

  v1::Report wire;
  ToProto(r, &wire);
  auto back = FromProto(wire);
  ASSERT_TRUE(back.ok()) << back.error();
  ASSERT_EQ(back->destinations.top.size(), 1u);
  EXPECT_EQ(back->destinations.top[0].remote.ToString(), "10.0.4.12:1433");
  EXPECT_EQ(back->destinations.top[0].total(), 320u);
  EXPECT_EQ(back->destinations.top[0].local_ports, 310u);
  EXPECT_EQ(back->destinations.other_count, 2u);
  EXPECT_EQ(back->destinations.other.local_ports, 5u);
  ASSERT_EQ(back->processes.top.size(), 1u);
  EXPECT_EQ(back->processes.top[0].name, "w3wp.exe");
  EXPECT_EQ(back->processes.top[0].program, p.program);
  EXPECT_EQ(back->processes.top[0].states[static_cast<int>(TcpState::kBound)], 900u);
  ASSERT_EQ(back->listeners.size(), 1u);
  EXPECT_EQ(back->listeners[0].local.ToString(), "[::1]:443");
  ASSERT_TRUE(back->has_config);
  EXPECT_EQ(back->config, r.config);  // absent stays absent, not 0
  EXPECT_FALSE(back->config.values[1].present);
  ASSERT_EQ(back->events.counters.size(), 1u);
  EXPECT_EQ(back->events.counters[0].value, 17u);
  EXPECT_TRUE(back->events.degraded);

  // A report without config carries none.
  r.has_config = false;
  ToProto(r, &wire);
  EXPECT_FALSE(wire.has_config());
}

TEST(Wire, MalformedListsAreRefused) {
  v1::Report base;
  ToProto(Sample(), &base);
  {
    v1::Report p = base;
    auto* d = p.add_top_destinations();
    d->mutable_remote()->set_family(v1::ADDRESS_FAMILY_IPV4);
    d->mutable_remote()->set_addr(std::string(16, '\1'));  // v4 with 16 bytes
    auto r = FromProto(p);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("expected 4"), std::string::npos) << r.error();
  }
  {
    v1::Report p = base;
    for (int i = 0; i < 1001; ++i) p.add_top_processes()->set_pid(i);
    auto r = FromProto(p);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("longer than 1000"), std::string::npos);
  }
  {
    v1::Report p = base;
    p.add_top_processes()->set_ephemeral_ports(70000);
    EXPECT_FALSE(FromProto(p).ok());
  }
  {
    v1::Report p = base;
    p.mutable_config()->add_values();  // empty key
    EXPECT_FALSE(FromProto(p).ok());
  }
}

TEST(Wire, InboundTimeWaitRoundTripsAndIsBoundedByTheTimeWaitCount) {
  Report r = Sample();  // 3 TIME_WAIT sockets in all
  InboundUsage u;
  u.port = 443;
  u.states[static_cast<int>(TcpState::kTimeWait)] = 2;
  u.states[static_cast<int>(TcpState::kEstablished)] = 4;
  r.sockets.inbound.push_back(u);
  r.sockets.inbound_time_wait = 3;  // one more on a listener the bounded list left out
  v1::Report wire;
  ToProto(r, &wire);
  auto back = FromProto(wire);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->sockets.inbound_time_wait, 3u);
  ASSERT_EQ(back->sockets.inbound.size(), 1u);
  EXPECT_EQ(back->sockets.inbound[0].port, 443);
  EXPECT_EQ(back->sockets.inbound[0].states[static_cast<int>(TcpState::kTimeWait)], 2u);
  EXPECT_EQ(back->sockets.inbound[0].states[static_cast<int>(TcpState::kEstablished)], 4u);

  struct Case {
    const char* expect;
    void (*mutate)(v1::Report*);
  };
  const Case cases[] = {
      {"exceeds the TIME_WAIT count",
       [](v1::Report* p) { p->mutable_sockets()->set_inbound_time_wait(4); }},
      {"exceeds the inbound TIME_WAIT total",
       [](v1::Report* p) { p->mutable_sockets()->set_inbound_time_wait(1); }},
      {"is not a port",
       [](v1::Report* p) { p->mutable_sockets()->mutable_inbound(0)->set_port(0); }},
      {"is not a port",
       [](v1::Report* p) { p->mutable_sockets()->mutable_inbound(0)->set_port(70000); }},
      {"appears twice",
       [](v1::Report* p) { *p->mutable_sockets()->add_inbound() = p->sockets().inbound(0); }},
      {"unknown TCP state",
       [](v1::Report* p) {
         p->mutable_sockets()->mutable_inbound(0)->mutable_states(0)->set_state(v1::TcpState(99));
       }},
  };
  for (const Case& c : cases) {
    v1::Report p = wire;
    c.mutate(&p);
    auto bad = FromProto(p);
    ASSERT_FALSE(bad.ok()) << c.expect;
    EXPECT_NE(bad.error().find(c.expect), std::string::npos) << bad.error();
  }
}

TEST(Endpoint, ParsesAndPrintsBothFamilies) {
  Endpoint e;
  ASSERT_TRUE(Endpoint::Parse("127.0.0.1:80", &e));
  EXPECT_EQ(e.family, Family::kIpv4);
  EXPECT_EQ(e.ToString(), "127.0.0.1:80");
  ASSERT_TRUE(Endpoint::Parse("[2001:db8::1]:443", &e));
  EXPECT_EQ(e.family, Family::kIpv6);
  EXPECT_EQ(e.ToString(), "[2001:db8::1]:443");
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:99999", "[::1]443", "host:80"}) {
    EXPECT_FALSE(Endpoint::Parse(bad, &e)) << bad;
  }
}

TEST(Wire, UnknownRangeCarriesNoPortUse) {
  Report r = Sample();
  r.sockets.ephemeral_range = {0, 0};
  r.sockets.ephemeral_ports_usable = 0;
  r.sockets.ephemeral_ports_in_use = 0;
  v1::Report p;
  ToProto(r, &p);
  auto ok = FromProto(p);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_TRUE(ok->sockets.ephemeral_range.empty());
  EXPECT_EQ(ok->sockets.count(Family::kIpv4, TcpState::kEstablished), 10u);
  p.mutable_sockets()->set_ephemeral_ports_in_use(3);
  auto bad = FromProto(p);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("unknown range"), std::string::npos);
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

namespace portwatch {
namespace {

// The delivery fields: spool health and the instance of a replayed report survive the wire, and
// an absurd instance id is refused like any other bad field.
TEST(Wire, DeliveryFieldsRoundTrip) {
  Report r = Sample();
  r.instance_id = "0123abcd";
  r.health.spool_bytes = 65536;
  r.health.spool_write_failures_total = 3;
  r.health.spool_corrupt_records_total = 2;
  v1::Report p;
  ToProto(r, &p);
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->instance_id, "0123abcd");
  EXPECT_EQ(back->health.spool_bytes, 65536u);
  EXPECT_EQ(back->health.spool_write_failures_total, 3u);
  EXPECT_EQ(back->health.spool_corrupt_records_total, 2u);
  p.set_instance_id(std::string(200, 'x'));
  auto bad = FromProto(p);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("instance_id"), std::string::npos) << bad.error();
}

// A process whose argv[0] was longer than 4,096 bytes used to make the collector refuse every
// whole report of its host. Now the field is cut, the rest of the report stands, and it is counted.
TEST(Wire, OverLongAndControlTextIsTruncatedNotRefused) {
  v1::Report p;
  ToProto(Sample(), &p);
  auto* proc = p.add_top_processes();
  proc->set_pid(9);
  proc->set_name("evil\n\x1B[31m");
  proc->set_program(std::string(100000, 'A'));
  p.mutable_events()->set_degraded_reason(std::string(1 << 20, 'r'));
  WireNotes notes;
  auto r = FromProto(p, &notes);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->processes.top.size(), 1u);
  EXPECT_EQ(r->processes.top[0].name, "evil\\n\\x1B[31m");
  EXPECT_LE(r->processes.top[0].program.size(), kMaxProgramBytes);
  EXPECT_LE(r->events.degraded_reason.size(), kMaxTextFieldBytes);
  EXPECT_EQ(r->sockets.ephemeral_ports_in_use, 12u);  // the rest of the report is intact
  EXPECT_EQ(notes.strings_truncated, 2u);
  EXPECT_EQ(notes.strings_repaired, 1u);
}

// What the agent serializes always parses again, whatever its process names hold.
TEST(Wire, InvalidUtf8InTheModelStillSerializesToAParsableReport) {
  Report r = Sample();
  ProcessUsage proc;
  proc.name = "bad\xFF";
  proc.program = "/tmp/\xC0\xAF";
  r.processes.top.push_back(proc);
  v1::Report p;
  ToProto(r, &p);
  std::string bytes;
  ASSERT_TRUE(p.SerializeToString(&bytes));
  v1::Report back;
  ASSERT_TRUE(back.ParseFromString(bytes));
  EXPECT_EQ(back.top_processes(0).name(), "bad\xEF\xBF\xBD");
}

}  // namespace
}  // namespace portwatch

namespace portwatch {
namespace {

// A destination's owner is agent-controlled text like a process name: bounded and repaired one
// by one, the rest of the report stands. Its count must be a part of the destination's live
// connections; more is a broken sender and the report is refused with a reason.
TEST(Wire, DestinationOwnerIsBoundedRepairedAndItsCountChecked) {
  Report r = Sample();
  DestinationUsage d;
  ASSERT_TRUE(Endpoint::Parse("10.0.4.12:1433", &d.remote));
  d.states[static_cast<int>(TcpState::kTimeWait)] = 300;
  d.states[static_cast<int>(TcpState::kEstablished)] = 4;
  d.local_ports = 304;
  d.top_process = "w3wp.exe";
  d.top_process_pid = 4242;
  d.top_process_connections = 3;
  r.destinations.top.push_back(d);
  r.destinations.other.local_ports = 5;
  r.destinations.other_count = 1;
  v1::Report p;
  ToProto(r, &p);
  EXPECT_FALSE(p.other_destinations().has_remote());
  EXPECT_TRUE(p.other_destinations().top_process().empty());
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.error();
  ASSERT_EQ(back->destinations.top.size(), 1u);
  EXPECT_EQ(back->destinations.top[0].top_process, "w3wp.exe");
  EXPECT_EQ(back->destinations.top[0].top_process_pid, 4242u);
  EXPECT_EQ(back->destinations.top[0].top_process_connections, 3u);

  // Hostile names: over-long and invalid UTF-8 with a terminal escape.
  p.mutable_top_destinations(0)->set_top_process(std::string(100000, 'A'));
  WireNotes notes;
  back = FromProto(p, &notes);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_LE(back->destinations.top[0].top_process.size(), kMaxProcessNameBytes);
  EXPECT_TRUE(IsCleanText(back->destinations.top[0].top_process, kMaxProcessNameBytes));
  EXPECT_EQ(notes.strings_truncated, 1u);
  p.mutable_top_destinations(0)->set_top_process("w3wp\xFF\x1B[31m");
  notes = {};
  back = FromProto(p, &notes);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_TRUE(IsCleanText(back->destinations.top[0].top_process, kMaxProcessNameBytes));
  EXPECT_EQ(back->destinations.top[0].top_process.find('\x1B'), std::string::npos);
  EXPECT_EQ(notes.strings_repaired, 1u);
  EXPECT_EQ(back->destinations.top[0].local_ports, 304u);  // the rest is intact

  // More connections than the destination has live (TIME_WAIT has no owner): refused.
  p.mutable_top_destinations(0)->set_top_process("w3wp.exe");
  p.mutable_top_destinations(0)->set_top_process_connections(5);
  back = FromProto(p);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().find("top_process_connections 5 exceeds its live connections 4"),
            std::string::npos)
      << back.error();

  // An older agent sends no owner: none is read.
  p.mutable_top_destinations(0)->clear_top_process();
  back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->destinations.top[0].top_process, "");
  EXPECT_EQ(back->destinations.top[0].top_process_connections, 0u);
}

}  // namespace
}  // namespace portwatch
