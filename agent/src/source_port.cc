#include "src/source_port.h"

namespace portwatch::agent {

Expected<std::vector<uint16_t>> ParseSourcePorts(const std::string& text) {
  auto ranges = ParseReservedPortsText(text, PortRange{1, 65535});
  if (!ranges.ok() || ranges->empty()) {
    return Status::Error("--source-ports '" + text +
                         "' is not a list of ports; write a port, a range or both, e.g. "
                         "20000-20003 or 20000,20005");
  }
  std::vector<uint16_t> ports;
  for (const PortRange& r : *ranges) {
    for (uint32_t p = r.low; p <= r.high && ports.size() <= kMaxSourcePorts; ++p) {
      ports.push_back(static_cast<uint16_t>(p));
    }
  }
  if (ports.size() > kMaxSourcePorts) {
    return Status::Error("--source-ports '" + text + "' names more than " +
                         std::to_string(kMaxSourcePorts) +
                         " ports; a few are enough (the agent holds one connection)");
  }
  return ports;
}

std::vector<std::string> SourcePortWarnings(const std::vector<uint16_t>& ports,
                                            const EphemeralPorts& ephemeral) {
  std::vector<std::string> out;
  for (uint16_t p : ports) {
    if (!ephemeral.range.contains(p)) continue;
    bool reserved = false;
    for (const PortRange& r : ephemeral.reserved) reserved = reserved || r.contains(p);
    if (reserved) continue;
    out.push_back("--source-ports: port " + std::to_string(p) + " is inside the ephemeral range " +
                  std::to_string(ephemeral.range.low) + "-" + std::to_string(ephemeral.range.high) +
                  " and not reserved, so other sockets may take it when the host runs out of "
                  "ports; reserve it (sysctl net.ipv4.ip_local_reserved_ports) or choose ports "
                  "outside the range");
  }
  return out;
}

}  // namespace portwatch::agent
