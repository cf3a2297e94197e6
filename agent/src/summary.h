// Builds a report's socket content from one scan: the summary by state and family, the top
// destinations (4-tuple pressure), the top processes and the fullest listeners. OS-neutral: both
// the Linux and the Windows agent feed it their socket table.
#pragma once

#include <cstddef>
#include <vector>

#include "collect/process_attribution.h"
#include "collect/tcp_config.h"
#include "portwatch/model.h"

namespace portwatch::agent {

/// Counts sockets by family and state, and the distinct local ports of the usable ephemeral range
/// held by any TCP socket (IPv4 or IPv6, any state: a listener, a TIME_WAIT and a bound-only socket
/// all keep their port from being handed out). Sockets in states the model does not know are left
/// out of the counts.
SocketSummary BuildSummary(const std::vector<SocketEntry>& sockets, const EphemeralPorts& ports);

struct UsageOptions {
  size_t top_destinations = 20;  ///< K for destinations
  size_t top_processes = 20;     ///< K for processes
  size_t top_listeners = 10;
  size_t top_inbound = 10;  ///< listening ports with inbound connections, most TIME_WAIT first
};

/// Fills report->sockets (with the inbound connections per listening port), ->destinations,
/// ->processes and ->listeners. Each destination names the program holding the most of its live
/// (not TIME_WAIT) connections, pids of one program summed (DestinationUsage::top_process).
/// `attribution` may be null (every socket is then unattributed, and no destination names one).
void BuildUsage(const std::vector<SocketEntry>& sockets, const EphemeralPorts& ports,
                const ProcessAttribution* attribution, const UsageOptions& options,
                Report* report);

}  // namespace portwatch::agent
