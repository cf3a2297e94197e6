// Builds the host's socket summary from one scan of the socket table.
#pragma once

#include <vector>

#include "collect/tcp_config.h"
#include "portwatch/model.h"

namespace portwatch::agent {

/// Counts sockets by family and state, and the distinct local ports of the usable ephemeral range
/// held by any TCP socket (IPv4 or IPv6, any state: a listener, a TIME_WAIT and a bound-only socket
/// all keep their port from being handed out). Sockets in states the model does not know are left
/// out of the counts.
SocketSummary BuildSummary(const std::vector<SocketEntry>& sockets, const EphemeralPorts& ports);

}  // namespace portwatch::agent
