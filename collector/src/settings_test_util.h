// Settings snapshots for collector tests.
#pragma once

#include <cstdint>
#include <string>

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

/// A Linux report with settings a policy audits (tcp_syncookies, a small SYN backlog, the default
/// port range) and `overflows` as TcpExt.ListenOverflows.
inline Report LinuxPolicyReport(int64_t syncookies, uint64_t overflows = 0) {
  Report r;
  r.has_config = true;
  r.config.os_version = "Linux 6.1.0-18-amd64";
  auto add = [&](const std::string& key, int64_t value) {
    ConfigValue c;
    c.key = key;
    c.present = true;
    c.int_value = value;
    r.config.values.push_back(c);
  };
  add("net.ipv4.tcp_syncookies", syncookies);
  add("net.ipv4.tcp_max_syn_backlog", 64);
  ConfigValue range;
  range.key = "net.ipv4.ip_local_port_range";
  range.present = true;
  range.type = ConfigValue::Type::kString;
  range.string_value = "32768 60999";
  r.config.values.push_back(range);
  r.events.counters.push_back({"TcpExt.ListenOverflows", overflows, 0});
  return r;
}

}  // namespace portwatch::collector
