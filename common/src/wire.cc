#include "portwatch/wire.h"

#include <bitset>
#include <cstring>
#include <string>

#include "portwatch/text.h"

namespace portwatch {
namespace {

v1::AddressFamily FamilyToProto(Family f) {
  return f == Family::kIpv6 ? v1::ADDRESS_FAMILY_IPV6 : v1::ADDRESS_FAMILY_IPV4;
}

// Largest plausible count of sockets of one kind on one host: far above any real table (a Linux
// host tops out around a few million sockets), low enough to catch garbage.
constexpr uint32_t kMaxPlausibleSockets = 50'000'000;
constexpr uint32_t kMaxPort = 65535;
// Bounds on list lengths and strings: agents send top-K lists (K about 20), so anything far
// larger is a broken or hostile sender.
constexpr int kMaxListEntries = 1000;
constexpr size_t kMaxKeyBytes = 256;
constexpr size_t kMaxInstanceIdBytes = 128;

// Text from an agent is bounded and sanitized field by field, never a reason to refuse the whole
// report: one process with a hostile name must not blind its host. What was changed is counted.
std::string Clean(const std::string& in, size_t max_bytes, WireNotes* notes) {
  SanitizeInfo info;
  std::string out = SanitizeText(in, max_bytes, &info);
  if (notes != nullptr) {
    notes->strings_truncated += info.truncated ? 1 : 0;
    notes->strings_repaired += info.repaired || info.escaped ? 1 : 0;
  }
  return out;
}

void EndpointToProto(const Endpoint& e, v1::Endpoint* out) {
  out->set_family(FamilyToProto(e.family));
  out->set_addr(std::string(reinterpret_cast<const char*>(e.addr.data()),
                            e.family == Family::kIpv6 ? 16 : 4));
  out->set_port(e.port);
}

template <typename Repeated>
void StatesToProto(const StateCounts& states, Repeated* out) {
  for (int st = 1; st < kTcpStateCount; ++st) {
    if (states[st] == 0) continue;
    auto* t = out->Add();
    t->set_state(static_cast<v1::TcpState>(st));
    t->set_count(states[st]);
  }
}

template <typename Repeated>
Status StatesFromProto(const Repeated& in, const char* what, StateCounts* out) {
  *out = {};
  for (const v1::StateTally& t : in) {
    if (t.state() <= v1::TCP_STATE_UNSPECIFIED || t.state() >= kTcpStateCount) {
      return Status::Error(std::string(what) + " has unknown TCP state " +
                           std::to_string(t.state()));
    }
    if (t.count() > kMaxPlausibleSockets) {
      return Status::Error(std::string(what) + " count " + std::to_string(t.count()) +
                           " is not plausible");
    }
    (*out)[t.state()] += t.count();
  }
  return Status::Ok();
}

void DestinationToProto(const DestinationUsage& d, bool with_remote, v1::DestinationUsage* out) {
  if (with_remote) EndpointToProto(d.remote, out->mutable_remote());
  StatesToProto(d.states, out->mutable_states());
  out->set_local_ports(d.local_ports);
  if (with_remote && !d.top_process.empty()) {
    out->set_top_process(SanitizeText(d.top_process, kMaxProcessNameBytes));
    out->set_top_process_connections(d.top_process_connections);
    out->set_top_process_pid(d.top_process_pid);
  }
}

void ProcessToProto(const ProcessUsage& p, v1::ProcessUsage* out) {
  out->set_pid(p.pid);
  out->set_name(SanitizeText(p.name, kMaxProcessNameBytes));
  out->set_program(SanitizeText(p.program, kMaxProgramBytes));
  StatesToProto(p.states, out->mutable_states());
  out->set_ephemeral_ports(p.ephemeral_ports);
}

Status DestinationFromProto(const v1::DestinationUsage& in, bool with_remote, DestinationUsage* out,
                            WireNotes* notes) {
  if (with_remote) {
    Status s = EndpointFromProto(in.remote(), "destination", &out->remote);
    if (!s.ok()) return s;
  }
  if (in.local_ports() > kMaxPort) {
    return Status::Error("destination local_ports " + std::to_string(in.local_ports()) +
                         " exceeds the number of ports");
  }
  out->local_ports = in.local_ports();
  Status st = StatesFromProto(in.states(), "destination state", &out->states);
  if (!st.ok()) return st;
  // The owner is a name like any process name: bounded and repaired, never a reason to refuse.
  // Its count is a part of the destination's connections; more is a broken sender. The summed
  // "other" destinations have no owner.
  if (with_remote && !in.top_process().empty()) {
    const uint32_t live = out->total() - out->states[static_cast<int>(TcpState::kTimeWait)];
    if (in.top_process_connections() > live) {
      return Status::Error("destination top_process_connections " +
                           std::to_string(in.top_process_connections()) +
                           " exceeds its live connections " + std::to_string(live));
    }
    out->top_process = Clean(in.top_process(), kMaxProcessNameBytes, notes);
    out->top_process_connections = in.top_process_connections();
    out->top_process_pid = in.top_process_pid();
  }
  return Status::Ok();
}

Status ProcessFromProto(const v1::ProcessUsage& in, ProcessUsage* out, WireNotes* notes) {
  if (in.ephemeral_ports() > kMaxPort) {
    return Status::Error("process ephemeral_ports " + std::to_string(in.ephemeral_ports()) +
                         " exceeds the number of ports");
  }
  out->pid = in.pid();
  out->name = Clean(in.name(), kMaxProcessNameBytes, notes);
  out->program = Clean(in.program(), kMaxProgramBytes, notes);
  out->ephemeral_ports = in.ephemeral_ports();
  return StatesFromProto(in.states(), "process state", &out->states);
}

// Inbound TIME_WAIT is a part of the TIME_WAIT count, and each listed port a part of that part:
// a sender claiming more is broken, and its numbers would skew the churn model.
Status InboundFromProto(const v1::SocketSummary& in, SocketSummary* out) {
  const int tw = static_cast<int>(TcpState::kTimeWait);
  const uint64_t time_wait = uint64_t{out->counts[0][tw]} + out->counts[1][tw];
  if (in.inbound_time_wait() > time_wait) {
    return Status::Error("inbound TIME_WAIT " + std::to_string(in.inbound_time_wait()) +
                         " exceeds the TIME_WAIT count " + std::to_string(time_wait));
  }
  if (in.inbound_size() > kMaxListEntries) {
    return Status::Error("inbound list is longer than " + std::to_string(kMaxListEntries) +
                         " entries; agents send a bounded list");
  }
  uint64_t listed_tw = 0;
  std::bitset<kMaxPort + 1> seen;
  for (const v1::InboundPortUsage& u : in.inbound()) {
    if (u.port() == 0 || u.port() > kMaxPort) {
      return Status::Error("inbound port " + std::to_string(u.port()) + " is not a port");
    }
    if (seen.test(u.port())) {
      return Status::Error("inbound port " + std::to_string(u.port()) + " appears twice");
    }
    seen.set(u.port());
    InboundUsage o;
    o.port = static_cast<uint16_t>(u.port());
    Status st = StatesFromProto(u.states(), "inbound state", &o.states);
    if (!st.ok()) return st;
    listed_tw += o.states[tw];
    out->inbound.push_back(o);
  }
  if (listed_tw > in.inbound_time_wait()) {
    return Status::Error("inbound TIME_WAIT listed per port (" + std::to_string(listed_tw) +
                         ") exceeds the inbound TIME_WAIT total " +
                         std::to_string(in.inbound_time_wait()));
  }
  out->inbound_time_wait = in.inbound_time_wait();
  return Status::Ok();
}

}  // namespace

Status EndpointFromProto(const v1::Endpoint& in, const char* what, Endpoint* out) {
  if (in.family() != v1::ADDRESS_FAMILY_IPV4 && in.family() != v1::ADDRESS_FAMILY_IPV6) {
    return Status::Error(std::string(what) + " has unknown address family");
  }
  out->family = in.family() == v1::ADDRESS_FAMILY_IPV6 ? Family::kIpv6 : Family::kIpv4;
  const size_t want = out->family == Family::kIpv6 ? 16 : 4;
  if (in.addr().size() != want) {
    return Status::Error(std::string(what) + " address has " + std::to_string(in.addr().size()) +
                         " bytes, expected " + std::to_string(want));
  }
  if (in.port() > kMaxPort) return Status::Error(std::string(what) + " port is above 65535");
  out->addr = {};
  std::memcpy(out->addr.data(), in.addr().data(), want);
  out->port = static_cast<uint16_t>(in.port());
  return Status::Ok();
}

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
  s->set_ephemeral_range_source(static_cast<v1::EphemeralRangeSource>(in.range_source));
  s->set_ephemeral_range_auto_reuse(in.auto_reuse_range);
  for (const InboundUsage& u : in.inbound) {
    v1::InboundPortUsage* o = s->add_inbound();
    o->set_port(u.port);
    StatesToProto(u.states, o->mutable_states());
  }
  s->set_inbound_time_wait(in.inbound_time_wait);
  for (const DestinationUsage& d : report.destinations.top) {
    DestinationToProto(d, true, out->add_top_destinations());
  }
  if (report.destinations.other_count > 0) {
    DestinationToProto(report.destinations.other, false, out->mutable_other_destinations());
    out->set_other_destinations_count(report.destinations.other_count);
  }
  for (const ProcessUsage& p : report.processes.top) ProcessToProto(p, out->add_top_processes());
  if (report.processes.other_count > 0) {
    ProcessToProto(report.processes.other, out->mutable_other_processes());
    out->set_other_processes_count(report.processes.other_count);
  }
  for (const ListenerUsage& l : report.listeners) {
    v1::ListenerUsage* o = out->add_listeners();
    EndpointToProto(l.local, o->mutable_local());
    o->set_accept_queue(l.accept_queue);
    o->set_backlog(l.backlog);
    o->set_pid(l.pid);
    o->set_process(SanitizeText(l.process, kMaxProcessNameBytes));
  }
  if (report.has_config) ToProto(report.config, out->mutable_config());
  v1::EventCounts* ev = out->mutable_events();
  for (const EventCounter& c : report.events.counters) {
    v1::EventCounter* o = ev->add_counters();
    o->set_name(SanitizeText(c.name, kMaxKeyBytes));
    o->set_value(c.value);
    o->set_last_unix_ms(c.last_unix_ms);
  }
  ev->set_degraded(report.events.degraded);
  ev->set_degraded_reason(SanitizeText(report.events.degraded_reason, kMaxTextFieldBytes));
  v1::AgentHealth* h = out->mutable_health();
  h->set_reports_dropped_total(report.health.reports_dropped_total);
  h->set_reports_pending(report.health.reports_pending);
  h->set_scan_duration_us(report.health.scan_duration_us);
  h->set_spool_bytes(report.health.spool_bytes);
  h->set_spool_write_failures_total(report.health.spool_write_failures_total);
  h->set_spool_corrupt_records_total(report.health.spool_corrupt_records_total);
  out->set_instance_id(report.instance_id);
}

void ToProto(const ConfigSnapshot& config, v1::ConfigSnapshot* out) {
  out->Clear();
  out->set_os_version(SanitizeText(config.os_version, kMaxKeyBytes));
  for (const ConfigValue& v : config.values) {
    v1::ConfigValue* o = out->add_values();
    o->set_key(SanitizeText(v.key, kMaxKeyBytes));
    if (!v.present) continue;
    if (v.type == ConfigValue::Type::kInt) {
      o->set_int_value(v.int_value);
    } else {
      o->set_string_value(SanitizeText(v.string_value, kMaxTextFieldBytes));
    }
  }
}

void ToProto(const AgentHello& hello, v1::Hello* out) {
  out->Clear();
  out->set_hostname(hello.hostname);
  out->set_agent_version(SanitizeText(hello.agent_version, 64));
  out->set_os(static_cast<v1::OsKind>(hello.os));
  out->set_os_version(SanitizeText(hello.os_version, 128));
  out->set_instance_id(hello.instance_id);
  out->set_boot_id(hello.boot_id);
  out->set_interval_ms(hello.interval_ms);
}

Expected<Report> FromProto(const v1::Report& in, WireNotes* notes) {
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
  // 0-0 is an agent that could not read its range (e.g. WMI unavailable): it sends socket counts
  // but no port use, and says why in events.degraded_reason.
  const bool unknown_range = low == 0 && high == 0;
  if (unknown_range && (s.ephemeral_ports_usable() != 0 || s.ephemeral_ports_in_use() != 0)) {
    return Status::Error("ephemeral ports reported for an unknown range (0-0)");
  }
  if (!unknown_range && (low > kMaxPort || high > kMaxPort || low > high || low == 0)) {
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
  // An open enum: a source added by a newer agent reads as unknown, not as an error.
  const int source = s.ephemeral_range_source();
  r.sockets.range_source = source > 0 && source < kRangeSourceCount
                               ? static_cast<RangeSource>(source)
                               : RangeSource::kUnknown;
  r.sockets.auto_reuse_range = s.ephemeral_range_auto_reuse();
  r.sockets.ephemeral_ports_in_use = s.ephemeral_ports_in_use();
  r.sockets.total_sockets = s.total_sockets();
  Status inbound = InboundFromProto(s, &r.sockets);
  if (!inbound.ok()) return inbound;
  if (in.top_destinations_size() > kMaxListEntries || in.top_processes_size() > kMaxListEntries ||
      in.listeners_size() > kMaxListEntries) {
    return Status::Error("report lists are longer than " + std::to_string(kMaxListEntries) +
                         " entries; agents send bounded top-K lists");
  }
  for (const v1::DestinationUsage& d : in.top_destinations()) {
    DestinationUsage out;
    Status st = DestinationFromProto(d, true, &out, notes);
    if (!st.ok()) return st;
    r.destinations.top.push_back(std::move(out));
  }
  if (in.has_other_destinations()) {
    Status st = DestinationFromProto(in.other_destinations(), false, &r.destinations.other, notes);
    if (!st.ok()) return st;
  }
  r.destinations.other_count = in.other_destinations_count();
  for (const v1::ProcessUsage& p : in.top_processes()) {
    ProcessUsage out;
    Status st = ProcessFromProto(p, &out, notes);
    if (!st.ok()) return st;
    r.processes.top.push_back(std::move(out));
  }
  if (in.has_other_processes()) {
    Status st = ProcessFromProto(in.other_processes(), &r.processes.other, notes);
    if (!st.ok()) return st;
  }
  r.processes.other_count = in.other_processes_count();
  for (const v1::ListenerUsage& l : in.listeners()) {
    ListenerUsage out;
    Status st = EndpointFromProto(l.local(), "listener", &out.local);
    if (!st.ok()) return st;
    out.accept_queue = l.accept_queue();
    out.backlog = l.backlog();
    out.pid = l.pid();
    out.process = Clean(l.process(), kMaxProcessNameBytes, notes);
    r.listeners.push_back(std::move(out));
  }
  if (in.has_config()) {
    if (in.config().values_size() > kMaxListEntries) {
      return Status::Error("config snapshot has more than " + std::to_string(kMaxListEntries) +
                           " values");
    }
    r.has_config = true;
    r.config.os_version = Clean(in.config().os_version(), kMaxKeyBytes, notes);
    for (const v1::ConfigValue& v : in.config().values()) {
      if (v.key().empty()) return Status::Error("config value with an empty key");
      ConfigValue out;
      out.key = Clean(v.key(), kMaxKeyBytes, notes);
      switch (v.value_case()) {
        case v1::ConfigValue::kIntValue:
          out.present = true;
          out.int_value = v.int_value();
          break;
        case v1::ConfigValue::kStringValue:
          out.present = true;
          out.type = ConfigValue::Type::kString;
          out.string_value = Clean(v.string_value(), kMaxTextFieldBytes, notes);
          break;
        case v1::ConfigValue::VALUE_NOT_SET:
          break;
      }
      r.config.values.push_back(std::move(out));
    }
  }
  if (in.events().counters_size() > kMaxListEntries) {
    return Status::Error("event counts have more than " + std::to_string(kMaxListEntries) +
                         " counters");
  }
  for (const v1::EventCounter& c : in.events().counters()) {
    if (c.name().empty()) return Status::Error("event counter with an empty name");
    r.events.counters.push_back({Clean(c.name(), kMaxKeyBytes, notes), c.value(), c.last_unix_ms()});
  }
  r.events.degraded = in.events().degraded();
  r.events.degraded_reason = Clean(in.events().degraded_reason(), kMaxTextFieldBytes, notes);
  r.health.reports_dropped_total = in.health().reports_dropped_total();
  r.health.reports_pending = in.health().reports_pending();
  r.health.scan_duration_us = in.health().scan_duration_us();
  r.health.spool_bytes = in.health().spool_bytes();
  r.health.spool_write_failures_total = in.health().spool_write_failures_total();
  r.health.spool_corrupt_records_total = in.health().spool_corrupt_records_total();
  if (in.instance_id().size() > kMaxInstanceIdBytes) {
    return Status::Error("report instance_id is longer than " +
                         std::to_string(kMaxInstanceIdBytes) + " bytes");
  }
  if (!IsCleanText(in.instance_id(), kMaxInstanceIdBytes)) {
    return Status::Error("report instance_id contains control characters; agents make it from "
                         "random hex digits");
  }
  r.instance_id = in.instance_id();
  return r;
}

Expected<AgentHello> FromProto(const v1::Hello& in, WireNotes* notes) {
  AgentHello h;
  if (in.hostname().empty()) return Status::Error("hello has an empty hostname");
  if (in.hostname().size() > 253) return Status::Error("hello hostname is longer than 253 bytes");
  if (in.instance_id().empty() || in.instance_id().size() > kMaxInstanceIdBytes) {
    return Status::Error("hello instance_id must be 1 to " + std::to_string(kMaxInstanceIdBytes) +
                         " bytes");
  }
  if (!IsCleanText(in.instance_id(), kMaxInstanceIdBytes)) {
    return Status::Error("hello instance_id contains control characters; agents make it from "
                         "random hex digits");
  }
  // The host name is compared with the certificate's; it is kept as sent so the comparison is
  // exact, and escaped wherever it is shown or logged.
  h.hostname = in.hostname();
  h.agent_version = Clean(in.agent_version(), 64, notes);
  h.os = in.os() == v1::OS_KIND_LINUX     ? OsKind::kLinux
         : in.os() == v1::OS_KIND_WINDOWS ? OsKind::kWindows
                                          : OsKind::kUnknown;
  h.os_version = Clean(in.os_version(), 128, notes);
  h.instance_id = in.instance_id();
  h.boot_id = Clean(in.boot_id(), 64, notes);
  h.interval_ms = in.interval_ms();
  return h;
}

}  // namespace portwatch
