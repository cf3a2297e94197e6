// The host's TCP settings that bound the ephemeral port space, one implementation per OS.
#pragma once

#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::agent {

/// The ephemeral (dynamic) port range and the ports inside it the OS will not hand out.
struct EphemeralPorts {
  PortRange range;
  std::vector<PortRange> reserved;  ///< sorted, merged, clipped to `range`
  /// Why the range is the OS's documented default rather than read from the host (Windows where
  /// neither WMI nor netsh answered); empty when it was read.
  std::string assumed_reason;
  RangeSource source = RangeSource::kUnknown;
  /// `range` is Windows' AutoReusePortRange (enabled), not the dynamic range.
  bool auto_reuse = false;

  /// Ports of the range the OS can actually hand out.
  uint32_t usable() const;
};

/// Reads the host's TCP settings as typed values: on Linux the net.ipv4 / net.core sysctls and the
/// kernel release; on Windows Tcpip\Parameters values and the OS version. Absent values are
/// reported with present = false. `root` as for ReadEphemeralPorts.
Expected<ConfigSnapshot> ReadTcpConfig(const std::string& root = "");

/// Reads the ephemeral range of this host. `root` prefixes the OS paths (tests pass a fixture
/// directory; the default is the live system).
Expected<EphemeralPorts> ReadEphemeralPorts(const std::string& root = "");

/// A decimal port number 0-65535, digits only; false otherwise.
bool ParsePortNumber(const std::string& text, uint16_t* out);
/// `text` without leading and trailing white space.
std::string TrimSpace(const std::string& text);

/// Parses Linux's ip_local_port_range text ("32768\t60999\n").
Expected<PortRange> ParsePortRangeText(const std::string& text);
/// Parses Linux's ip_local_reserved_ports text ("8080,9000-9010\n", or empty) and clips the
/// result to `within`.
Expected<std::vector<PortRange>> ParseReservedPortsText(const std::string& text,
                                                        const PortRange& within);

}  // namespace portwatch::agent
