#include "portwatch/wire.h"

#include <string>

namespace portwatch {
namespace {

v1::AddressFamily FamilyToProto(Family f) {
  return f == Family::kIpv6 ? v1::ADDRESS_FAMILY_IPV6 : v1::ADDRESS_FAMILY_IPV4;
}

// Largest plausible count of sockets of one kind on one host: far above any real table (a Linux
// host tops out around a few million sockets), low enough to catch garbage.
constexpr uint32_t kMaxPlausibleSockets = 50'000'000;
constexpr uint32_t kMaxPort = 65535;

}  // namespace

void ToProto(const Report& report, v1::Report* out) {
  out->Clear();
  out->set_sequence(report.sequence);
  out->set_collected_unix_ms(report.collected_unix_ms);
  v1::SocketSummary* s = out->mutable_sockets();
  const SocketSummary& in = report.sockets;
  for (int f = 0; f < kFamilyCount; ++f) {
    for (int st = 0; st < kTcpStateCount; ++st) {
      const uint32_t n = in.counts[f][st];
      if (n == 0) continue;
      v1::StateCount* c = s->add_states();
      c->set_family(FamilyToProto(static_cast<Family>(f)));
      c->set_state(static_cast<v1::TcpState>(st));
      c->set_count(n);
    }
  }
  s->mutable_ephemeral_range()->set_low(in.ephemeral_range.low);
  s->mutable_ephemeral_range()->set_high(in.ephemeral_range.high);
  s->set_ephemeral_ports_usable(in.ephemeral_ports_usable);
  s->set_ephemeral_ports_in_use(in.ephemeral_ports_in_use);
  s->set_total_sockets(in.total_sockets);
  v1::AgentHealth* h = out->mutable_health();
  h->set_reports_dropped_total(report.health.reports_dropped_total);
  h->set_reports_pending(report.health.reports_pending);
  h->set_scan_duration_us(report.health.scan_duration_us);
}

void ToProto(const AgentHello& hello, v1::Hello* out) {
  out->Clear();
  out->set_hostname(hello.hostname);
  out->set_agent_version(hello.agent_version);
  out->set_os(static_cast<v1::OsKind>(hello.os));
  out->set_os_version(hello.os_version);
  out->set_instance_id(hello.instance_id);
  out->set_boot_id(hello.boot_id);
  out->set_interval_ms(hello.interval_ms);
}

Expected<Report> FromProto(const v1::Report& in) {
  Report r;
  if (in.sequence() == 0) {
    return Status::Error("report has sequence 0; sequences start at 1 (agent bug or old agent)");
  }
  r.sequence = in.sequence();
  r.collected_unix_ms = in.collected_unix_ms();
  if (!in.has_sockets()) return Status::Error("report has no socket summary");
  const v1::SocketSummary& s = in.sockets();
  uint64_t sum = 0;
  for (const v1::StateCount& c : s.states()) {
    if (c.family() != v1::ADDRESS_FAMILY_IPV4 && c.family() != v1::ADDRESS_FAMILY_IPV6) {
      return Status::Error("state count with unknown address family " +
                           std::to_string(c.family()));
    }
    if (c.state() <= v1::TCP_STATE_UNSPECIFIED || c.state() >= kTcpStateCount) {
      return Status::Error("state count with unknown TCP state " + std::to_string(c.state()));
    }
    if (c.count() > kMaxPlausibleSockets) {
      return Status::Error("state count " + std::to_string(c.count()) + " is not plausible");
    }
    const int f = c.family() == v1::ADDRESS_FAMILY_IPV6 ? 1 : 0;
    // A repeated (family, state) pair would double-count; refuse rather than guess.
    if (r.sockets.counts[f][c.state()] != 0) {
      return Status::Error("state count for " +
                           std::string(FamilyName(static_cast<Family>(f))) + "/" +
                           std::string(TcpStateName(static_cast<TcpState>(c.state()))) +
                           " appears twice");
    }
    r.sockets.counts[f][c.state()] = c.count();
    sum += c.count();
  }
  const uint32_t low = s.ephemeral_range().low(), high = s.ephemeral_range().high();
  if (low > kMaxPort || high > kMaxPort || low > high || low == 0) {
    return Status::Error("ephemeral range " + std::to_string(low) + "-" + std::to_string(high) +
                         " is not a valid port range");
  }
  r.sockets.ephemeral_range = PortRange{static_cast<uint16_t>(low), static_cast<uint16_t>(high)};
  if (s.ephemeral_ports_usable() > r.sockets.ephemeral_range.size()) {
    return Status::Error("usable ephemeral ports " + std::to_string(s.ephemeral_ports_usable()) +
                         " exceed the range size " +
                         std::to_string(r.sockets.ephemeral_range.size()));
  }
  if (s.ephemeral_ports_in_use() > r.sockets.ephemeral_range.size()) {
    return Status::Error("ephemeral ports in use " + std::to_string(s.ephemeral_ports_in_use()) +
                         " exceed the range size " +
                         std::to_string(r.sockets.ephemeral_range.size()));
  }
  if (s.total_sockets() != sum) {
    return Status::Error("total_sockets " + std::to_string(s.total_sockets()) +
                         " differs from the sum of state counts " + std::to_string(sum));
  }
  r.sockets.ephemeral_ports_usable = s.ephemeral_ports_usable();
  r.sockets.ephemeral_ports_in_use = s.ephemeral_ports_in_use();
  r.sockets.total_sockets = s.total_sockets();
  r.health.reports_dropped_total = in.health().reports_dropped_total();
  r.health.reports_pending = in.health().reports_pending();
  r.health.scan_duration_us = in.health().scan_duration_us();
  return r;
}

Expected<AgentHello> FromProto(const v1::Hello& in) {
  AgentHello h;
  if (in.hostname().empty()) return Status::Error("hello has an empty hostname");
  if (in.hostname().size() > 253) return Status::Error("hello hostname is longer than 253 bytes");
  if (in.instance_id().empty() || in.instance_id().size() > 128) {
    return Status::Error("hello instance_id must be 1 to 128 bytes");
  }
  h.hostname = in.hostname();
  h.agent_version = in.agent_version().substr(0, 64);
  h.os = in.os() == v1::OS_KIND_LINUX     ? OsKind::kLinux
         : in.os() == v1::OS_KIND_WINDOWS ? OsKind::kWindows
                                          : OsKind::kUnknown;
  h.os_version = in.os_version().substr(0, 128);
  h.instance_id = in.instance_id();
  h.boot_id = in.boot_id().substr(0, 64);
  h.interval_ms = in.interval_ms();
  return h;
}

}  // namespace portwatch
