// The report model: plain C++ types shared by agent and collector. It knows no wire format and no
// operating system; conversion to protobuf lives in wire.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

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

/// One socket from the live table, reduced to what the summary needs.
struct SocketEntry {
  Family family = Family::kIpv4;
  TcpState state = TcpState::kUnknown;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  std::array<uint8_t, 16> local_addr{};   // IPv4 uses the first 4 bytes
  std::array<uint8_t, 16> remote_addr{};
  uint64_t inode = 0;                     // Linux socket inode (0 where unknown)
  uint32_t owner_pid = 0;                 // Windows owning PID (0 where unknown)
};

/// What one scan of the socket table says about the host.
struct SocketSummary {
  /// counts[family][state]
  std::array<std::array<uint32_t, kTcpStateCount>, kFamilyCount> counts{};
  PortRange ephemeral_range;
  uint32_t ephemeral_ports_usable = 0;
  uint32_t ephemeral_ports_in_use = 0;
  uint32_t total_sockets = 0;

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

/// Health of the reporting agent itself.
struct AgentHealth {
  uint64_t reports_dropped_total = 0;
  uint32_t reports_pending = 0;
  uint32_t scan_duration_us = 0;
};

/// One report: a sequence number within the agent instance and what was sampled.
struct Report {
  uint64_t sequence = 0;
  int64_t collected_unix_ms = 0;
  SocketSummary sockets;
  AgentHealth health;
};

enum class OsKind : uint8_t { kUnknown = 0, kLinux = 1, kWindows = 2 };

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
