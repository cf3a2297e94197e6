#include "collect/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace portwatch::agent {

TcpState KernelTcpState(uint8_t state) {
  switch (state) {
    case 1: return TcpState::kEstablished;
    case 2: return TcpState::kSynSent;
    case 3: return TcpState::kSynRecv;
    case 4: return TcpState::kFinWait1;
    case 5: return TcpState::kFinWait2;
    case 6: return TcpState::kTimeWait;
    // A dump only finds sockets in the kernel's established, listening and (when bit 13 is asked
    // for, Linux 6.7+) bind tables. A CLOSE socket is in none but the bind table, and the kernel
    // reports those bound-only sockets with their real state, CLOSE, not 13: so CLOSE is BOUND.
    case 7: return TcpState::kBound;
    case 8: return TcpState::kCloseWait;
    case 9: return TcpState::kLastAck;
    case 10: return TcpState::kListen;
    case 11: return TcpState::kClosing;
    case kKernelTcpNewSynRecv: return TcpState::kSynRecv;  // request socket: half-open inbound
    case kKernelTcpBoundInactive: return TcpState::kBound;
    default: return TcpState::kUnknown;
  }
}

std::string BuildSockDiagRequest(uint8_t family, uint32_t seq) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg;
  std::memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = seq;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  // Every state bit, including TCP_NEW_SYN_RECV and TCP_BOUND_INACTIVE: kernels ignore bits for
  // states they do not know, and bound-only sockets are dumped only when bit 13 is asked for.
  msg.req.idiag_states = ~0U;
  return std::string(reinterpret_cast<const char*>(&msg), sizeof msg);
}

Status ParseSockDiagDatagram(const uint8_t* data, size_t len, std::vector<SocketEntry>* out,
                             bool* done) {
  *done = false;
  size_t off = 0;
  while (off < len) {
    if (len - off < sizeof(nlmsghdr)) {
      return Status::Error("sock_diag reply truncated: " + std::to_string(len - off) +
                           " bytes left, less than a netlink header");
    }
    nlmsghdr h;
    std::memcpy(&h, data + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - off) {
      return Status::Error("sock_diag reply has a message of length " +
                           std::to_string(h.nlmsg_len) + " with " + std::to_string(len - off) +
                           " bytes left");
    }
    const uint8_t* payload = data + off + NLMSG_HDRLEN;
    const size_t payload_len = h.nlmsg_len - NLMSG_HDRLEN;
    if (h.nlmsg_type == NLMSG_DONE) {
      *done = true;
      return Status::Ok();
    }
    if (h.nlmsg_type == NLMSG_ERROR) {
      int err = 0;
      std::string unknown = "unknown error";
      if (payload_len >= sizeof(nlmsgerr)) {
        nlmsgerr e;
        std::memcpy(&e, payload, sizeof e);
        // The kernel sends a negative errno (MAX_ERRNO is 4095). Anything else is a malformed
        // reply, and negating INT_MIN would overflow.
        if (e.error < 0 && e.error > -4096) {
          err = -e.error;
        } else {
          unknown += " (malformed error code " + std::to_string(e.error) + ")";
        }
      }
      return Status::Error("kernel refused the sock_diag dump: " +
                           (err ? std::string(std::strerror(err)) : unknown) +
                           (err == EPERM || err == EACCES ? " (run the agent with more privileges)"
                                                          : ""));
    }
    if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      if (payload_len < sizeof(inet_diag_msg)) {
        return Status::Error("sock_diag message of " + std::to_string(payload_len) +
                             " bytes is shorter than inet_diag_msg");
      }
      inet_diag_msg m;
      std::memcpy(&m, payload, sizeof m);
      if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) {
        return Status::Error("sock_diag message with unexpected family " +
                             std::to_string(m.idiag_family));
      }
      SocketEntry e;
      e.family = m.idiag_family == AF_INET6 ? Family::kIpv6 : Family::kIpv4;
      e.state = KernelTcpState(m.idiag_state);
      e.local_port = ntohs(m.id.idiag_sport);
      e.remote_port = ntohs(m.id.idiag_dport);
      const size_t alen = e.family == Family::kIpv6 ? 16 : 4;
      std::memcpy(e.local_addr.data(), m.id.idiag_src, alen);
      std::memcpy(e.remote_addr.data(), m.id.idiag_dst, alen);
      e.inode = m.idiag_inode;
      if (e.state == TcpState::kListen) {
        // For listeners the kernel reports the accept queue length and its limit (backlog) in
        // the receive and send queue fields.
        e.accept_queue = m.idiag_rqueue;
        e.backlog = m.idiag_wqueue;
      }
      out->push_back(e);
    }
    // Other types (none expected) are skipped: their length was checked above.
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  return Status::Ok();
}

}  // namespace portwatch::agent
