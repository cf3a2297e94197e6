// The live TCP socket table of this host, one implementation per OS
// (socket_table_linux.cc: netlink sock_diag; socket_table_windows.cc: iphlpapi).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::agent {

class SocketTable {
 public:
  virtual ~SocketTable() = default;
  /// Replaces `out` with every TCP socket of the host, IPv4 and IPv6, in every state the OS can
  /// report (bound-only and half-open included where the OS exposes them).
  virtual Status Scan(std::vector<SocketEntry>* out) = 0;
  /// What the last Scan could not see although the host has it (e.g. bound-only sockets where
  /// the OS does not expose them), said so that a zero is not read as "none"; empty when the
  /// scan saw everything.
  virtual std::string MissingFromScan() const { return ""; }
};

/// The socket table of the OS this agent was built for.
std::unique_ptr<SocketTable> MakeSocketTable();

}  // namespace portwatch::agent
