#include "portwatch/model.h"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <sys/socket.h>
#endif

namespace portwatch {

std::string_view TcpStateName(TcpState state) {
  switch (state) {
    case TcpState::kEstablished: return "established";
    case TcpState::kSynSent: return "syn_sent";
    case TcpState::kSynRecv: return "syn_recv";
    case TcpState::kFinWait1: return "fin_wait1";
    case TcpState::kFinWait2: return "fin_wait2";
    case TcpState::kTimeWait: return "time_wait";
    case TcpState::kClose: return "close";
    case TcpState::kCloseWait: return "close_wait";
    case TcpState::kLastAck: return "last_ack";
    case TcpState::kListen: return "listen";
    case TcpState::kClosing: return "closing";
    case TcpState::kBound: return "bound";
    case TcpState::kDeleteTcb: return "delete_tcb";
    case TcpState::kUnknown: break;
  }
  return "unknown";
}

std::string_view RangeSourceName(RangeSource source) {
  switch (source) {
    case RangeSource::kSysctl:
      return "sysctl";
    case RangeSource::kWmi:
      return "wmi";
    case RangeSource::kNetsh:
      return "netsh";
    case RangeSource::kRegistry:
      return "registry";
    case RangeSource::kAssumedDefault:
      return "assumed_default";
    default:
      return "unknown";
  }
}

std::string_view OsKindName(OsKind os) {
  switch (os) {
    case OsKind::kLinux:
      return "linux";
    case OsKind::kWindows:
      return "windows";
    case OsKind::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view FamilyName(Family family) {
  return family == Family::kIpv6 ? "ipv6" : "ipv4";
}

}  // namespace portwatch

namespace portwatch {

std::string Endpoint::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family == Family::kIpv4) {
    inet_ntop(AF_INET, addr.data(), buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port);
  }
  inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
  return "[" + std::string(buf) + "]:" + std::to_string(port);
}

bool Endpoint::Parse(const std::string& text, Endpoint* out) {
  Endpoint e;
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find("]:");
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    e.family = Family::kIpv6;
    if (inet_pton(AF_INET6, host.c_str(), e.addr.data()) != 1) return false;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    e.family = Family::kIpv4;
    if (inet_pton(AF_INET, host.c_str(), e.addr.data()) != 1) return false;
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  unsigned long p = std::stoul(port);
  if (p > 65535) return false;
  e.port = static_cast<uint16_t>(p);
  *out = e;
  return true;
}

uint32_t DestinationUsage::total() const {
  uint32_t n = 0;
  for (uint32_t v : states) n += v;
  return n;
}

uint32_t ProcessUsage::total() const {
  uint32_t n = 0;
  for (uint32_t v : states) n += v;
  return n;
}

}  // namespace portwatch
