// The policy audit's rule model and its evaluation: plain C++ types, no YAML parser, no gRPC and
// no OS code, so the agent (Linux and the mingw build) and the collector link the same code.
// A policy is a list of rules; a rule selects hosts (OS kind, OS version range, host glob,
// labels), tests their settings (the effective value: the OS-version default where a value is
// absent) and optionally what the host is observed doing (evidence), and says how to fix it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::policy {

enum class Severity : uint8_t { kInfo = 0, kWarning = 1, kCritical = 2 };
inline constexpr int kSeverityCount = 3;

/// "info", "warning", "critical".
const char* SeverityName(Severity s);
/// Parses SeverityName's output; false on anything else.
bool ParseSeverity(const std::string& text, Severity* out);

/// How a condition compares its subject.
enum class Op : uint8_t {
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kBetween,  ///< low <= x <= high
  kOutside,  ///< x < low or x > high
  kPresent,  ///< the value is set explicitly on the host (not the OS default)
  kAbsent,   ///< the value is not set explicitly (the OS default applies)
};

/// One test of a setting or an observation. Settings compare their effective value unless
/// `raw` is set (then an absent value fails every comparison). String settings compare with
/// eq/ne against `text`.
struct Condition {
  std::string subject;  ///< a setting key ("Tcpip.TcpTimedWaitDelay") or an observation name
  Op op = Op::kEq;
  double value = 0;  ///< the bound of eq..ge, the low end of between/outside
  double high = 0;   ///< the high end of between/outside
  bool is_text = false;
  std::string text;  ///< eq/ne against a string setting
  bool raw = false;
  int line = 0;  ///< where it was written (0: not from a file)
};

/// A numeric test of `subject` (eq..ge) against `value`.
Condition MakeCondition(std::string subject, Op op, double value);

/// An inclusive version range; an empty end is open. Windows versions are build numbers
/// ("3790", "7601"); Linux versions are kernel releases ("4.19", "5.4.0").
struct VersionRange {
  std::string min;
  std::string max;
};

/// Which hosts a rule applies to. Empty parts match every host.
struct Selector {
  OsKind os = OsKind::kUnknown;  ///< kUnknown: any OS
  VersionRange version;
  std::vector<std::string> hosts;  ///< globs (* and ?); any one matching selects the host
  std::map<std::string, std::string> labels;  ///< every one must be equal on the host
};

enum class RuleKind : uint8_t {
  kCheck = 0,  ///< settings and evidence conditions
  kPeer = 1,   ///< the host's effective `peer_setting` differs from the majority of its group
};

struct Rule {
  std::string id;
  std::string title;
  Severity severity = Severity::kWarning;
  std::string source;       ///< the documentation the rule is built from
  std::string remediation;  ///< the exact registry value, netsh or sysctl command
  Selector selector;
  RuleKind kind = RuleKind::kCheck;
  std::vector<Condition> when;      ///< all must hold (kCheck)
  std::vector<Condition> evidence;  ///< all must hold as well; none: settings alone decide
  std::string peer_setting;         ///< kPeer: the setting compared within the group
  uint32_t peer_min_group = 3;      ///< kPeer: smaller groups have no meaningful majority
  int line = 0;
};

struct Policy {
  std::vector<Rule> rules;
  std::string origin;  ///< the file it came from, or "built-in default policy"
};

/// What the audit knows about one host. Observations are what the host is doing (see
/// ObserveReport); an empty map means none are known, and evidence conditions then fail.
struct HostFacts {
  std::string host;
  OsKind os = OsKind::kUnknown;
  std::string os_version;  ///< "Windows 6.1.7601 Service Pack 1", "Linux 6.1.0-18-amd64"
  std::map<std::string, std::string> labels;
  ConfigSnapshot config;
  std::map<std::string, double> observations;
};

/// One rule a host breaks, with what made it break.
struct Violation {
  std::string rule_id;
  std::string host;
  Severity severity = Severity::kWarning;
  std::string title;
  std::string detail;  ///< the values that matched, "Tcpip.TcpTimedWaitDelay=240 (default)..."
  std::string remediation;
  std::string source;
};

/// Checks what a parser cannot: unique ids, known severities, usable conditions. The message
/// names the rule (and line when known).
Status Validate(const Policy& policy);

/// Whether `rule`'s selector picks `host` (the hosts a rule's compliance is counted over).
bool Applies(const Rule& rule, const HostFacts& host);

/// The OS kind a config snapshot's os_version names ("Windows ..." / "Linux ...").
OsKind OsKindOfVersion(const std::string& os_version);

/// The host's check rules. Peer rules need the fleet: see EvaluateFleet.
std::vector<Violation> EvaluateHost(const Policy& policy, const HostFacts& host);

/// Check rules for every host and peer rules over the groups (same OS kind, OS version and
/// labels). Sorted by host, then severity (worst first), then rule id.
std::vector<Violation> EvaluateFleet(const Policy& policy, const std::vector<HostFacts>& hosts);

/// The observations a report gives: time_wait, time_wait_share (of the ephemeral range),
/// ephemeral_utilization, syn_sent, syn_recv, half_open, destination_share (the busiest
/// destination's 4-tuple use of the range), destination_time_wait_share (TIME_WAITs toward the
/// three busiest destinations, of all TIME_WAITs), time_wait_outbound_share (TIME_WAITs toward
/// the listed destinations from ephemeral ports, of all), listen_queue_full (listeners whose
/// accept queue is full), event.<counter> (cumulative counts, e.g. event.Tcpip.4227) and, when
/// `previous` is given (an earlier report of the same agent), event_delta.<counter>.
std::map<std::string, double> ObserveReport(const Report& report, const Report* previous = nullptr);

/// Whether `glob` (with * and ?) matches all of `text`.
bool GlobMatch(const std::string& glob, const std::string& text);

/// The names ObserveReport can produce (event.* and event_delta.* are prefixes).
bool IsKnownObservation(const std::string& name);

}  // namespace portwatch::policy
