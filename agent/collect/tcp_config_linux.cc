#include "collect/tcp_config.h"
#include "portwatch/files.h"

namespace portwatch::agent {

Expected<EphemeralPorts> ReadEphemeralPorts(const std::string& root) {
  const std::string dir = root + "/proc/sys/net/ipv4/";
  auto range_text = ReadFileLimited(dir + "ip_local_port_range", 4096, "ip_local_port_range");
  if (!range_text.ok()) return range_text.status();
  auto range = ParsePortRangeText(*range_text);
  if (!range.ok()) return range.status();
  EphemeralPorts ep;
  ep.range = *range;
  // Older kernels have no reserved ports file: then nothing is reserved.
  auto reserved_text =
      ReadFileLimited(dir + "ip_local_reserved_ports", 1 << 20, "ip_local_reserved_ports");
  if (reserved_text.ok()) {
    auto reserved = ParseReservedPortsText(*reserved_text, ep.range);
    if (!reserved.ok()) return reserved.status();
    ep.reserved = std::move(*reserved);
  }
  return ep;
}

}  // namespace portwatch::agent
