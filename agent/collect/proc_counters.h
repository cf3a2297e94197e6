// Parsing of Linux's /proc/net/netstat and /proc/net/snmp: pairs of lines, a header naming the
// fields and a line of values, each starting with the same "Prefix:".
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "portwatch/status.h"

namespace portwatch::agent {

/// Parses the pairs into "Prefix.Field" -> value (e.g. "TcpExt.ListenOverflows"). Fails on a
/// header without its value line, a count mismatch or a value that is not a number; negative
/// values (Tcp.MaxConn is -1) are kept as their two's complement and are not used as counters.
Expected<std::map<std::string, uint64_t>> ParseProcNetCounters(const std::string& text);

}  // namespace portwatch::agent
