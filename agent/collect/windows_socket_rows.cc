// The MIB_TCPROW* tables of GetExtendedTcpTable, GetTcpTable2 and the bound-endpoint exports,
// read from raw bytes so they are tested on recorded rows on every OS.
#include "collect/windows_mapping.h"
#include "collect/windows_bytes.h"

#include <algorithm>
#include <cstring>

namespace portwatch::agent::win {
namespace {

// The port sits in the DWORD's first two bytes in network byte order.
uint16_t LoadPort(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

}  // namespace

TcpState MibTcpState(uint32_t state) {
  switch (state) {
    case kMibTcpStateClosed: return TcpState::kClose;
    case kMibTcpStateListen: return TcpState::kListen;
    case kMibTcpStateSynSent: return TcpState::kSynSent;
    case kMibTcpStateSynRcvd: return TcpState::kSynRecv;
    case kMibTcpStateEstab: return TcpState::kEstablished;
    case kMibTcpStateFinWait1: return TcpState::kFinWait1;
    case kMibTcpStateFinWait2: return TcpState::kFinWait2;
    case kMibTcpStateCloseWait: return TcpState::kCloseWait;
    case kMibTcpStateClosing: return TcpState::kClosing;
    case kMibTcpStateLastAck: return TcpState::kLastAck;
    case kMibTcpStateTimeWait: return TcpState::kTimeWait;
    case kMibTcpStateDeleteTcb: return TcpState::kDeleteTcb;
    case kMibTcpStateReserved: return TcpState::kBound;
    default: return TcpState::kUnknown;
  }
}

Family LayoutFamily(TcpRowLayout layout) {
  return layout == TcpRowLayout::kOwnerPid6 || layout == TcpRowLayout::kRow2v6 ? Family::kIpv6
                                                                                 : Family::kIpv4;
}

Status ParseTcpTable(const uint8_t* data, size_t len, TcpRowLayout layout, bool bound_table,
                     std::vector<SocketEntry>* out) {
  if (len < kTableRowsOffset) {
    return Status::Error("TCP table of " + std::to_string(len) +
                         " bytes is too short for its entry count");
  }
  const uint32_t n = LoadDword(data);
  const TcpRowOffsets o = RowOffsets(layout);
  if ((len - kTableRowsOffset) / o.size < n) {
    return Status::Error("TCP table claims " + std::to_string(n) + " rows but holds only " +
                         std::to_string(len) + " bytes; it is truncated");
  }
  const Family family = LayoutFamily(layout);
  const size_t addr_len = family == Family::kIpv6 ? 16 : 4;
  out->reserve(out->size() + n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* row = data + kTableRowsOffset + size_t{i} * o.size;
    SocketEntry e;
    e.family = family;
    e.state = bound_table ? TcpState::kBound : MibTcpState(LoadDword(row + o.state));
    std::memcpy(e.local_addr.data(), row + o.local_addr, addr_len);
    e.local_port = LoadPort(row + o.local_port);
    // Bound and listening sockets have no peer; Windows fills the remote fields with zeros or
    // leftovers, so only connections keep them.
    if (e.state != TcpState::kBound && e.state != TcpState::kListen) {
      std::memcpy(e.remote_addr.data(), row + o.remote_addr, addr_len);
      e.remote_port = LoadPort(row + o.remote_port);
    }
    e.owner_pid = LoadDword(row + o.pid);
    out->push_back(e);
  }
  return Status::Ok();
}

Expected<std::vector<uint8_t>> FetchTable(
    const std::function<uint32_t(std::vector<uint8_t>* buffer, uint32_t* size)>& fetch,
    const std::string& what) {
  std::vector<uint8_t> buf;
  uint32_t size = 0;
  uint32_t rc = kFetchTooSmall;
  for (int attempt = 0; attempt < kTableFetchAttempts; ++attempt) {
    // Leave headroom: connections open between the size query and the fetch.
    buf.assign(size + size / 8 + 4096, 0);
    size = static_cast<uint32_t>(buf.size());
    rc = fetch(&buf, &size);
    if (rc == kFetchOk) {
      buf.resize(std::min<size_t>(size, buf.size()));
      return buf;
    }
    if (rc != kFetchTooSmall) {
      return Status::Error("cannot read the " + what + ": error " + std::to_string(rc));
    }
  }
  return Status::Error("cannot read the " + what + ": it kept growing faster than it could be " +
                       "fetched (" + std::to_string(kTableFetchAttempts) +
                       " attempts); the next scan tries again");
}

}  // namespace portwatch::agent::win
