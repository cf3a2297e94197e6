// Settings snapshots for collector tests.
#pragma once

#include <cstdint>

#include "portwatch/model.h"

namespace portwatch::collector {

/// A Windows Server 2022 snapshot with TcpTimedWaitDelay set to `tw_delay_s`.
inline ConfigSnapshot WindowsTimeWaitSettings(int64_t tw_delay_s) {
  ConfigSnapshot c;
  c.os_version = "Windows 10.0.20348";
  ConfigValue v;
  v.key = "Tcpip.TcpTimedWaitDelay";
  v.present = true;
  v.int_value = tw_delay_s;
  c.values.push_back(v);
  return c;
}

}  // namespace portwatch::collector
