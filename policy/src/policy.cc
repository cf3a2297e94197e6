#include "portwatch/policy/policy.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

#include "portwatch/policy/defaults.h"

namespace portwatch::policy {
namespace {

std::string FormatNumber(double v) {
  char buf[40];
  if (v == static_cast<double>(static_cast<int64_t>(v))) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

const char* OpText(Op op) {
  switch (op) {
    case Op::kEq:
      return "==";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kBetween:
      return "in";
    case Op::kOutside:
      return "outside";
    case Op::kPresent:
      return "present";
    case Op::kAbsent:
      return "absent";
  }
  return "?";
}

bool Compare(Op op, double x, double a, double b) {
  switch (op) {
    case Op::kEq:
      return x == a;
    case Op::kNe:
      return x != a;
    case Op::kLt:
      return x < a;
    case Op::kLe:
      return x <= a;
    case Op::kGt:
      return x > a;
    case Op::kGe:
      return x >= a;
    case Op::kBetween:
      return x >= a && x <= b;
    case Op::kOutside:
      return x < a || x > b;
    case Op::kPresent:
    case Op::kAbsent:
      return false;
  }
  return false;
}

std::string Bound(const Condition& c) {
  if (c.op == Op::kPresent || c.op == Op::kAbsent) return "";
  if (c.is_text) return " \"" + c.text + "\"";
  if (c.op == Op::kBetween || c.op == Op::kOutside) {
    return " [" + FormatNumber(c.value) + ", " + FormatNumber(c.high) + "]";
  }
  return " " + FormatNumber(c.value);
}

// Whether a setting condition holds; `why` gets "key=value" for the message.
bool SettingHolds(const Condition& c, const HostFacts& host, const OsVersion& version,
                  std::string* why) {
  const EffectiveValue v = Effective(host.os, version, host.config, c.subject);
  const bool explicit_value = v.known && !v.is_default;
  *why = c.subject + "=" + v.Describe();
  if (c.op == Op::kPresent) return explicit_value;
  if (c.op == Op::kAbsent) return !explicit_value;
  if (!v.known || (c.raw && v.is_default)) return false;
  if (c.is_text || v.is_text) {
    if (!c.is_text || !v.is_text) return false;
    return c.op == Op::kEq ? v.text == c.text : c.op == Op::kNe && v.text != c.text;
  }
  return Compare(c.op, v.number, c.value, c.high);
}

bool EvidenceHolds(const Condition& c, const HostFacts& host, std::string* why) {
  auto it = host.observations.find(c.subject);
  if (it == host.observations.end()) {
    *why = c.subject + " not observed";
    return c.op == Op::kAbsent;
  }
  *why = c.subject + "=" + FormatNumber(it->second);
  if (c.op == Op::kPresent) return true;
  if (c.op == Op::kAbsent) return false;
  return Compare(c.op, it->second, c.value, c.high);
}

bool Selected(const Selector& s, const HostFacts& host, const OsVersion& version) {
  if (s.os != OsKind::kUnknown && s.os != host.os) return false;
  if (!s.version.min.empty() || !s.version.max.empty()) {
    if (!version.known) return false;
    if (auto lo = ParseVersionBound(s.version.min);
        lo && CompareVersion(host.os, version, *lo) < 0) {
      return false;
    }
    if (auto hi = ParseVersionBound(s.version.max);
        hi && CompareVersion(host.os, version, *hi) > 0) {
      return false;
    }
  }
  if (!s.hosts.empty() && std::none_of(s.hosts.begin(), s.hosts.end(), [&](const std::string& g) {
        return GlobMatch(g, host.host);
      })) {
    return false;
  }
  for (const auto& [k, v] : s.labels) {
    auto it = host.labels.find(k);
    if (it == host.labels.end() || it->second != v) return false;
  }
  return true;
}

Violation MakeViolation(const Rule& r, const std::string& host, std::string detail) {
  Violation v;
  v.rule_id = r.id;
  v.host = host;
  v.severity = r.severity;
  v.title = r.title;
  v.detail = std::move(detail);
  v.remediation = r.remediation;
  v.source = r.source;
  return v;
}

std::optional<Violation> CheckRule(const Rule& r, const HostFacts& host, const OsVersion& version) {
  if (r.kind != RuleKind::kCheck || !Selected(r.selector, host, version)) return std::nullopt;
  std::string detail;
  for (const Condition& c : r.when) {
    std::string why;
    if (!SettingHolds(c, host, version, &why)) return std::nullopt;
    detail += (detail.empty() ? "" : "; ") + why + " [" + OpText(c.op) + Bound(c) + "]";
  }
  for (const Condition& c : r.evidence) {
    std::string why;
    if (!EvidenceHolds(c, host, &why)) return std::nullopt;
    detail += (detail.empty() ? "" : "; ") + why + " [" + OpText(c.op) + Bound(c) + "]";
  }
  return MakeViolation(r, host.host, detail);
}

std::string LabelsText(const std::map<std::string, std::string>& labels) {
  if (labels.empty()) return "no labels";
  std::string s;
  for (const auto& [k, v] : labels) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

}  // namespace

Condition MakeCondition(std::string subject, Op op, double value) {
  Condition c;
  c.subject = std::move(subject);
  c.op = op;
  c.value = value;
  return c;
}

bool Applies(const Rule& rule, const HostFacts& host) {
  return Selected(rule.selector, host, ParseOsVersion(host.os, host.os_version));
}

OsKind OsKindOfVersion(const std::string& os_version) {
  if (os_version.rfind("Windows", 0) == 0) return OsKind::kWindows;
  if (os_version.rfind("Linux", 0) == 0) return OsKind::kLinux;
  return OsKind::kUnknown;
}

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "unknown";
}

bool ParseSeverity(const std::string& text, Severity* out) {
  for (Severity s : {Severity::kInfo, Severity::kWarning, Severity::kCritical}) {
    if (text == SeverityName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

bool GlobMatch(const std::string& glob, const std::string& text) {
  // Iterative matcher with one backtrack point: linear for the globs policies use.
  size_t g = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = t;
    } else if (star != std::string::npos) {
      g = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

Status Validate(const Policy& policy) {
  std::set<std::string> ids;
  for (const Rule& r : policy.rules) {
    const std::string where =
        "rule '" + r.id + "'" + (r.line > 0 ? " (line " + std::to_string(r.line) + ")" : "");
    if (r.id.empty()) {
      return Status::Error("a rule" +
                           (r.line > 0 ? " at line " + std::to_string(r.line) : std::string()) +
                           " has no id; give every rule a unique id");
    }
    if (!ids.insert(r.id).second) return Status::Error(where + ": the id is used twice");
    if (r.title.empty()) return Status::Error(where + ": has no title");
    for (const std::string* b : {&r.selector.version.min, &r.selector.version.max}) {
      if (!b->empty() && !ParseVersionBound(*b)) {
        return Status::Error(where + ": version bound '" + *b +
                             "' is not a build number or kernel release such as 7601 or 4.19");
      }
    }
    if (r.kind == RuleKind::kPeer) {
      if (!IsKnownSetting(r.peer_setting)) {
        return Status::Error(where + ": peer setting '" + r.peer_setting + "' is not a known key");
      }
      if (r.peer_min_group < 2) return Status::Error(where + ": peer min_group must be >= 2");
      continue;
    }
    if (r.when.empty() && r.evidence.empty()) {
      return Status::Error(where + ": has no conditions (add 'when' or 'evidence')");
    }
    for (const Condition& c : r.when) {
      if (!IsKnownSetting(c.subject)) {
        return Status::Error(where + ": setting '" + c.subject +
                             "' is not one the agents send (Tcpip.*, net.*, ephemeral.ports, "
                             "ephemeral.reserved_share)");
      }
    }
    for (const Condition& c : r.evidence) {
      if (!IsKnownObservation(c.subject)) {
        return Status::Error(where + ": observation '" + c.subject + "' is not known");
      }
      if (c.is_text) return Status::Error(where + ": observation '" + c.subject + "' is numeric");
    }
  }
  return Status::Ok();
}

std::vector<Violation> EvaluateHost(const Policy& policy, const HostFacts& host) {
  std::vector<Violation> out;
  const OsVersion version = ParseOsVersion(host.os, host.os_version);
  for (const Rule& r : policy.rules) {
    if (auto v = CheckRule(r, host, version)) out.push_back(std::move(*v));
  }
  return out;
}

std::vector<Violation> EvaluateFleet(const Policy& policy, const std::vector<HostFacts>& hosts) {
  std::vector<Violation> out;
  std::vector<OsVersion> versions;
  versions.reserve(hosts.size());
  for (const HostFacts& h : hosts) versions.push_back(ParseOsVersion(h.os, h.os_version));
  for (size_t i = 0; i < hosts.size(); ++i) {
    for (const Rule& r : policy.rules) {
      if (auto v = CheckRule(r, hosts[i], versions[i])) out.push_back(std::move(*v));
    }
  }
  for (const Rule& r : policy.rules) {
    if (r.kind != RuleKind::kPeer) continue;
    // Group: same OS kind, OS version text and labels.
    using Key = std::tuple<OsKind, std::string, std::map<std::string, std::string>>;
    std::map<Key, std::vector<size_t>> groups;
    for (size_t i = 0; i < hosts.size(); ++i) {
      if (!Selected(r.selector, hosts[i], versions[i])) continue;
      groups[Key{hosts[i].os, hosts[i].os_version, hosts[i].labels}].push_back(i);
    }
    for (const auto& [key, members] : groups) {
      if (members.size() < r.peer_min_group) continue;
      // Hosts compare by effective value: an explicit 120 equals an absent value defaulting to
      // 120. Unknown values (no explicit value, no documented default) form their own class.
      std::map<std::string, size_t> tally;
      std::vector<std::string> values;
      for (size_t i : members) {
        const EffectiveValue v =
            Effective(hosts[i].os, versions[i], hosts[i].config, r.peer_setting);
        values.push_back(!v.known    ? "absent (no documented default)"
                         : v.is_text ? "\"" + v.text + "\""
                                     : FormatNumber(v.number));
        ++tally[values.back()];
      }
      auto top = std::max_element(tally.begin(), tally.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
      if (top->second * 2 <= members.size()) continue;  // no strict majority: nothing to flag
      for (size_t k = 0; k < members.size(); ++k) {
        if (values[k] == top->first) continue;
        const HostFacts& h = hosts[members[k]];
        out.push_back(MakeViolation(
            r, h.host,
            r.peer_setting + "=" + values[k] + ", while " + std::to_string(top->second) + " of " +
                std::to_string(members.size()) + " hosts with " + std::get<1>(key) + " and " +
                LabelsText(std::get<2>(key)) + " have " + top->first));
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Violation& a, const Violation& b) {
    if (a.host != b.host) return a.host < b.host;
    if (a.severity != b.severity) return a.severity > b.severity;
    return a.rule_id < b.rule_id;
  });
  return out;
}

bool IsKnownObservation(const std::string& name) {
  static const std::set<std::string> kNames = {"time_wait",
                                               "time_wait_share",
                                               "ephemeral_utilization",
                                               "syn_sent",
                                               "syn_recv",
                                               "half_open",
                                               "destination_share",
                                               "destination_time_wait_share",
                                               "time_wait_outbound_share",
                                               "listen_queue_full"};
  return kNames.count(name) > 0 || (name.rfind("event.", 0) == 0 && name.size() > 6) ||
         (name.rfind("event_delta.", 0) == 0 && name.size() > 12);
}

std::map<std::string, double> ObserveReport(const Report& report, const Report* previous) {
  std::map<std::string, double> o;
  const SocketSummary& s = report.sockets;
  auto both = [&](TcpState st) {
    return static_cast<double>(s.count(Family::kIpv4, st)) + s.count(Family::kIpv6, st);
  };
  const double tw = both(TcpState::kTimeWait);
  o["time_wait"] = tw;
  o["syn_sent"] = both(TcpState::kSynSent);
  o["syn_recv"] = both(TcpState::kSynRecv);
  o["half_open"] = o["syn_sent"] + o["syn_recv"];
  const double range = s.ephemeral_range.size();
  const double usable = s.ephemeral_ports_usable > 0 ? s.ephemeral_ports_usable : range;
  if (range > 0) o["time_wait_share"] = tw / range;
  if (usable > 0) o["ephemeral_utilization"] = s.ephemeral_ports_in_use / usable;
  // Destinations are listed busiest first; their TIME_WAITs are the outbound ones (from
  // ephemeral local ports), which is what tcp_tw_reuse and per-destination 4-tuples concern.
  double dest_tw = 0, top3_tw = 0, max_ports = 0;
  for (size_t i = 0; i < report.destinations.top.size(); ++i) {
    const DestinationUsage& d = report.destinations.top[i];
    const double dtw = d.states[static_cast<int>(TcpState::kTimeWait)];
    dest_tw += dtw;
    if (i < 3) top3_tw += dtw;
    max_ports = std::max(max_ports, static_cast<double>(d.local_ports));
  }
  dest_tw += report.destinations.other.states[static_cast<int>(TcpState::kTimeWait)];
  if (usable > 0) o["destination_share"] = max_ports / usable;
  if (dest_tw > 0) o["destination_time_wait_share"] = top3_tw / dest_tw;
  if (tw > 0) o["time_wait_outbound_share"] = std::min(1.0, dest_tw / tw);
  double full = 0;
  for (const ListenerUsage& l : report.listeners) {
    if (l.backlog > 0 && l.accept_queue >= l.backlog) ++full;
  }
  o["listen_queue_full"] = full;
  for (const EventCounter& c : report.events.counters) {
    o["event." + c.name] = static_cast<double>(c.value);
    if (previous == nullptr) continue;
    for (const EventCounter& p : previous->events.counters) {
      // A counter that went down restarted (reboot, agent restart): its whole value is new.
      if (p.name == c.name) {
        o["event_delta." + c.name] =
            static_cast<double>(c.value >= p.value ? c.value - p.value : c.value);
      }
    }
  }
  return o;
}

}  // namespace portwatch::policy
