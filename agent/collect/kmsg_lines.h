// Counting the kernel log lines that signal TCP trouble.
#pragma once

#include <string>
#include <string_view>

namespace portwatch::agent {

/// The counter a kernel log message increments, or "" if it is not one we count:
///   "kmsg.tcp_tw_bucket_overflow"  <- "TCP: time wait bucket table overflow"
///   "kmsg.tcp_syn_flood"           <- "TCP: request_sock_TCP: Possible SYN flooding on port ..."
std::string_view KmsgCounterFor(std::string_view message);

/// The message part of a /dev/kmsg record ("6,1234,5678,-;text\n..." -> "text"), or "" if the
/// record is malformed.
std::string_view KmsgRecordMessage(std::string_view record);

}  // namespace portwatch::agent
