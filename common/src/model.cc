#include "portwatch/model.h"

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

std::string_view FamilyName(Family family) {
  return family == Family::kIpv6 ? "ipv6" : "ipv4";
}

}  // namespace portwatch
