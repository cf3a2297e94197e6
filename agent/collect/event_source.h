// TCP trouble counters, one implementation per OS.
//   Linux (event_source_linux.cc): /proc/net/netstat and /proc/net/snmp counters, and counted
//     kernel log lines from /dev/kmsg ("TCP: time wait bucket table overflow", "Possible SYN
//     flooding"); degraded where /dev/kmsg cannot be read.
//   Windows (event_source_windows.cc): System log Tcpip events 4226, 4227, 4231, 4265, 4266
//     through EvtSubscribe with a bookmark.
#pragma once

#include <memory>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::agent {

class EventSource {
 public:
  virtual ~EventSource() = default;
  /// Replaces `out` with the current monotonic counters (sorted by name).
  virtual Status Read(EventCounts* out) = 0;
};

std::unique_ptr<EventSource> MakeEventSource();

}  // namespace portwatch::agent
