#include "collect/kmsg_lines.h"

namespace portwatch::agent {

std::string_view KmsgCounterFor(std::string_view message) {
  if (message.find("time wait bucket table overflow") != std::string_view::npos) {
    return "kmsg.tcp_tw_bucket_overflow";
  }
  if (message.find("Possible SYN flooding") != std::string_view::npos) {
    return "kmsg.tcp_syn_flood";
  }
  return "";
}

std::string_view KmsgRecordMessage(std::string_view record) {
  // Format (Documentation/ABI/testing/dev-kmsg): "prio,seq,usec,flags[,more];message\n" followed
  // by optional continuation lines that start with a space.
  const size_t semi = record.find(';');
  if (semi == std::string_view::npos || semi == 0) return "";
  std::string_view msg = record.substr(semi + 1);
  const size_t nl = msg.find('\n');
  return nl == std::string_view::npos ? msg : msg.substr(0, nl);
}

}  // namespace portwatch::agent
