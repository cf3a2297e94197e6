// Parsing of netlink sock_diag (inet_diag) replies, kept apart from the socket I/O so that tests
// can feed it recorded dumps and hand-made malformed ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::agent {

/// Kernel TCP state numbers (include/net/tcp_states.h). 12 and 13 are newer than some headers.
inline constexpr uint8_t kKernelTcpNewSynRecv = 12;
inline constexpr uint8_t kKernelTcpBoundInactive = 13;  // Linux 6.7+: bound, never connected

/// Maps a kernel TCP state to the model's. In a sock_diag dump, TCP_CLOSE (7) is a bound-only
/// socket (see the .cc).
TcpState KernelTcpState(uint8_t state);

/// Builds the SOCK_DIAG_BY_FAMILY dump request for TCP sockets of one family in all states.
std::string BuildSockDiagRequest(uint8_t family, uint32_t seq);

/// Parses one datagram of a dump reply, appending its sockets to `out`. Sets `*done` when the
/// datagram holds NLMSG_DONE. A kernel error (NLMSG_ERROR) or a malformed message returns an error
/// and leaves what was already appended.
Status ParseSockDiagDatagram(const uint8_t* data, size_t len, std::vector<SocketEntry>* out,
                             bool* done);

}  // namespace portwatch::agent
