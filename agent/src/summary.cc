#include "src/summary.h"

#include <bitset>

namespace portwatch::agent {

SocketSummary BuildSummary(const std::vector<SocketEntry>& sockets, const EphemeralPorts& ports) {
  SocketSummary s;
  s.ephemeral_range = ports.range;
  s.ephemeral_ports_usable = ports.usable();
  // 8 KiB on the stack: one bit per port beats a hash set for tables of any size.
  std::bitset<65536> held;
  for (const SocketEntry& e : sockets) {
    if (e.state == TcpState::kUnknown) continue;
    ++s.counts[static_cast<int>(e.family)][static_cast<int>(e.state)];
    ++s.total_sockets;
    if (ports.range.contains(e.local_port)) held.set(e.local_port);
  }
  for (const PortRange& r : ports.reserved) {
    for (uint32_t p = r.low; p <= r.high; ++p) held.reset(p);
  }
  s.ephemeral_ports_in_use = static_cast<uint32_t>(held.count());
  return s;
}

}  // namespace portwatch::agent
