// portwatchctl's tables: query API answers turned into text for people. Pure functions of the
// answer, a clock and options, so they are tested with golden output and a fixed clock. Every
// string an agent controls is cleaned (portwatch/text: no control characters, bounded, UTF-8).
#pragma once

#include <cstdint>
#include <string>

#include "portwatch/v1/query.pb.h"

namespace portwatch::ctl {

struct FormatOptions {
  int64_t now_unix_ms = 0;  ///< the clock ages are measured against
  bool colour = false;      ///< ANSI colour for states (terminals only)
  bool all = false;         ///< no caps, and keep what is normally dropped as noise
  bool utc = false;         ///< times in UTC instead of the local time zone
};

/// Rows a list shows unless FormatOptions::all.
inline constexpr int kHostsCap = 50;
inline constexpr int kSeriesCap = 10;
inline constexpr int kInboundCap = 5;  ///< listening ports named on the inbound TIME_WAIT line

/// "ok", "drifting", ... ("unknown" for anything else).
const char* StateName(v1::HostState s);

/// "14:02, 3 h ago" (a time of another day gets its date), "never" for 0.
std::string When(int64_t unix_ms, const FormatOptions& o);

std::string FormatHosts(const v1::ListHostsResponse& r, const FormatOptions& o);
std::string FormatHost(const v1::HostDetail& d, const FormatOptions& o);
std::string FormatAggregates(const char* title, const v1::FleetAggregates& a,
                             const FormatOptions& o);

/// `top`'s exit status: 1 when any host listed is drifting, critical or exhausted, else 0.
int TopExitStatus(const v1::ListHostsResponse& r);

}  // namespace portwatch::ctl
