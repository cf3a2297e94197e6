// The report model: plain C++ types shared by agent and collector. It knows no wire format and no
// operating system; conversion to protobuf lives in wire.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portwatch {

enum class Family : uint8_t { kIpv4 = 0, kIpv6 = 1 };
inline constexpr int kFamilyCount = 2;

/// TCP states, OS-neutral. Numbering matches portwatch.v1.TcpState. kBound is a socket bound to a
/// local port but neither listening nor connected: it holds a port that plain netstat does not show.
enum class TcpState : uint8_t {
  kUnknown = 0,
  kEstablished = 1,
  kSynSent = 2,
  kSynRecv = 3,
  kFinWait1 = 4,
  kFinWait2 = 5,
  kTimeWait = 6,
  kClose = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kListen = 10,
  kClosing = 11,
  kBound = 12,
  kDeleteTcb = 13,
};
inline constexpr int kTcpStateCount = 14;

/// Lower-case names as used in metric labels and the CLI ("established", "time_wait", ...).
std::string_view TcpStateName(TcpState state);
std::string_view FamilyName(Family family);

/// An inclusive port range, as both Linux (ip_local_port_range) and Windows (dynamic port range)
/// describe the ephemeral ports.
struct PortRange {
  uint16_t low = 0;
  uint16_t high = 0;

  bool empty() const { return high < low || (low == 0 && high == 0); }
  uint32_t size() const { return empty() ? 0 : uint32_t{high} - low + 1; }
  bool contains(uint16_t port) const { return !empty() && port >= low && port <= high; }
  bool operator==(const PortRange& o) const { return low == o.low && high == o.high; }
};

/// Where an agent read its ephemeral range. Numbering matches portwatch.v1.EphemeralRangeSource.
enum class RangeSource : uint8_t {
  kUnknown = 0,
  kSysctl = 1,          ///< Linux ip_local_port_range
  kWmi = 2,             ///< Windows WMI MSFT_NetTCPSetting (2012 and later)
  kNetsh = 3,           ///< Windows `netsh int ipv4 show dynamicport tcp` (Vista to 2008 R2)
  kRegistry = 4,        ///< Windows Tcpip\Parameters MaxUserPort (before Vista)
  kAssumedDefault = 5,  ///< nothing answered: the OS version's documented default
};
inline constexpr int kRangeSourceCount = 6;

/// "unknown", "sysctl", "wmi", "netsh", "registry", "assumed_default" (CLI and metric labels).
std::string_view RangeSourceName(RangeSource source);

/// One socket from the live table, reduced to what the summary needs.
struct SocketEntry {
  Family family = Family::kIpv4;
  TcpState state = TcpState::kUnknown;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  std::array<uint8_t, 16> local_addr{};   // IPv4 uses the first 4 bytes
  std::array<uint8_t, 16> remote_addr{};
  uint64_t inode = 0;                     // Linux socket inode (0 where unknown)
  uint32_t owner_pid = 0;                 // owning process (0 where unknown)
  // For LISTEN sockets: connections waiting in the accept queue, and the backlog limit.
  uint32_t accept_queue = 0;
  uint32_t backlog = 0;
};

using StateCounts = std::array<uint32_t, kTcpStateCount>;

/// Connections accepted on one listening port (both families), by state. They hold the
/// listener's port, not a port of the ephemeral range: a TIME_WAIT here is this host, the
/// server, having closed first, and takes nothing from outbound connects.
struct InboundUsage {
  uint16_t port = 0;
  StateCounts states{};
};

/// What one scan of the socket table says about the host.
struct SocketSummary {
  /// counts[family][state]
  std::array<std::array<uint32_t, kTcpStateCount>, kFamilyCount> counts{};
  PortRange ephemeral_range;
  uint32_t ephemeral_ports_usable = 0;
  uint32_t ephemeral_ports_in_use = 0;
  uint32_t total_sockets = 0;
  RangeSource range_source = RangeSource::kUnknown;
  /// The range is Windows' AutoReusePortRange, which outbound connects draw from where it is
  /// enabled, rather than the dynamic port range.
  bool auto_reuse_range = false;
  /// Accepted connections per listening port: most TIME_WAIT first, bounded.
  std::vector<InboundUsage> inbound;
  /// TIME_WAIT sockets on any listening port (listed in `inbound` or not). Part of the
  /// TIME_WAIT state counts, yet no ephemeral port is behind them.
  uint32_t inbound_time_wait = 0;

  uint32_t count(Family f, TcpState s) const {
    return counts[static_cast<int>(f)][static_cast<int>(s)];
  }
  /// Share of the usable ephemeral ports that are held, 0..1 (0 where nothing is usable).
  double ephemeral_utilization() const {
    return ephemeral_ports_usable == 0
               ? 0.0
               : static_cast<double>(ephemeral_ports_in_use) / ephemeral_ports_usable;
  }
};

/// An IP endpoint. IPv4 uses the first 4 bytes of `addr`.
struct Endpoint {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;

  /// "10.0.4.12:1433" or "[2001:db8::1]:443".
  std::string ToString() const;
  /// Parses what ToString() makes; false on anything else.
  static bool Parse(const std::string& text, Endpoint* out);
  bool operator==(const Endpoint& o) const {
    return family == o.family && port == o.port && addr == o.addr;
  }
  bool operator<(const Endpoint& o) const {
    if (family != o.family) return family < o.family;
    if (addr != o.addr) return addr < o.addr;
    return port < o.port;
  }
};

/// Pressure toward one remote endpoint: the connections this host has to it from ephemeral local
/// ports, by state, and how many distinct local ports those use. Toward one ip:port the 4-tuple
/// space is the usable ephemeral range (per local address), so local_ports / usable is how close
/// the host is to Windows event 4227 / Linux EADDRNOTAVAIL toward that destination.
struct DestinationUsage {
  Endpoint remote;
  StateCounts states{};
  uint32_t local_ports = 0;
  uint32_t total() const;
};

/// What one process holds. pid 0 with name "(unattributed)" gathers sockets whose owner could
/// not be read (permissions, races, or an OS that does not say).
struct ProcessUsage {
  uint32_t pid = 0;
  std::string name;     ///< short name: comm on Linux, image file name on Windows
  std::string program;  ///< full program path where known (cmdline argv[0], image path)
  StateCounts states{};
  uint32_t ephemeral_ports = 0;  ///< distinct ports of the usable ephemeral range it holds
  uint32_t total() const;
};

inline constexpr char kUnattributedProcess[] = "(unattributed)";

/// A listening socket and how full its accept queue is (a full queue drops or resets clients).
struct ListenerUsage {
  Endpoint local;
  uint32_t accept_queue = 0;
  uint32_t backlog = 0;
  uint32_t pid = 0;
  std::string process;
};

/// A bounded top-K list with what did not fit summed into `other`.
template <typename T>
struct TopList {
  std::vector<T> top;    ///< largest first
  T other{};             ///< the sum of everything not in `top` (its identity fields unset)
  uint32_t other_count = 0;  ///< how many entries were folded into `other`
};

/// One typed setting. `present` false means the OS has no explicit value (the OS default
/// applies), which is not the same as 0.
struct ConfigValue {
  enum class Type : uint8_t { kInt = 0, kString = 1 };
  std::string key;        ///< e.g. "net.ipv4.tcp_fin_timeout", "Tcpip.TcpTimedWaitDelay"
  bool present = false;
  Type type = Type::kInt;
  int64_t int_value = 0;
  std::string string_value;
  bool operator==(const ConfigValue& o) const {
    return key == o.key && present == o.present && type == o.type && int_value == o.int_value &&
           string_value == o.string_value;
  }
};

/// The TCP settings of a host, sent on change and periodically.
struct ConfigSnapshot {
  std::string os_version;           ///< kernel release / Windows version and build
  std::vector<ConfigValue> values;  ///< sorted by key
  bool operator==(const ConfigSnapshot& o) const {
    return os_version == o.os_version && values == o.values;
  }
};

/// One monotonic event counter: a kernel counter ("TcpExt.TCPTimeWaitOverflow"), a counted log
/// line ("kmsg.syn_flood") or a Windows event id ("Tcpip.4227").
struct EventCounter {
  std::string name;
  uint64_t value = 0;
  int64_t last_unix_ms = 0;  ///< time of the latest occurrence where the source says (0: unknown)
};

struct EventCounts {
  std::vector<EventCounter> counters;  ///< sorted by name
  /// Set when a source could not be read (e.g. /dev/kmsg without permission): counts from it
  /// are missing, not zero. The reason says what to do.
  bool degraded = false;
  std::string degraded_reason;
};

/// Health of the reporting agent itself.
struct AgentHealth {
  uint64_t reports_dropped_total = 0;
  uint32_t reports_pending = 0;
  uint32_t scan_duration_us = 0;
  uint64_t spool_bytes = 0;                  ///< spool size when the report was made
  uint64_t spool_write_failures_total = 0;   ///< reports kept in memory: the spool disk failed
  uint64_t spool_corrupt_records_total = 0;  ///< damaged spool records skipped
};

/// One report: a sequence number within the agent instance and what was sampled.
struct Report {
  uint64_t sequence = 0;
  int64_t collected_unix_ms = 0;
  SocketSummary sockets;
  TopList<DestinationUsage> destinations;
  TopList<ProcessUsage> processes;
  std::vector<ListenerUsage> listeners;  ///< bounded: fullest accept queues first
  bool has_config = false;  ///< config is sent on change and periodically, not in every report
  ConfigSnapshot config;
  EventCounts events;
  AgentHealth health;
  /// The agent instance that made the report when it is not the stream's (a report replayed from
  /// an earlier instance's spool); empty means the instance named in the stream's hello.
  std::string instance_id;
};

enum class OsKind : uint8_t { kUnknown = 0, kLinux = 1, kWindows = 2 };
/// "linux", "windows" or "unknown": the `os` label of metrics, policies and the agent's JSON.
std::string_view OsKindName(OsKind os);

/// What an agent says about itself when its stream opens.
struct AgentHello {
  std::string hostname;
  std::string agent_version;
  OsKind os = OsKind::kUnknown;
  std::string os_version;
  std::string instance_id;
  std::string boot_id;
  uint32_t interval_ms = 0;
};

}  // namespace portwatch
