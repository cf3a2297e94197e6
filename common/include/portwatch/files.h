// Small, checked file and address helpers shared by agent and collector.
#pragma once

#include <cstdint>
#include <string>

#include "portwatch/status.h"

namespace portwatch {

/// Reads a whole file of at most `limit` bytes. `what` names the file in the error
/// ("CA certificate", "ip_local_port_range").
Expected<std::string> ReadFileLimited(const std::string& path, size_t limit,
                                      const std::string& what);

/// Writes `content` to `path` through a temporary file and rename, so readers never see half.
Status WriteFileAtomic(const std::string& path, const std::string& content);

/// A "host:port" or "[v6]:port" listen or connect address, checked.
struct HostPort {
  std::string host;
  uint16_t port = 0;
  /// Back in the form gRPC and civetweb take ("[::1]:9464" for IPv6).
  std::string ToString() const;
};
Expected<HostPort> ParseHostPort(const std::string& text, const std::string& what);

/// Wall-clock milliseconds since the Unix epoch.
int64_t NowUnixMs();

}  // namespace portwatch
