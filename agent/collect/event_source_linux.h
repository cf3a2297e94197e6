// The Linux event source, constructible on other paths for tests.
#pragma once

#include <memory>
#include <string>

#include "collect/event_source.h"

namespace portwatch::agent {

/// Reads counters from PROC_ROOT/proc/net/{netstat,snmp} and counts trouble lines from
/// `kmsg_path` (normally /dev/kmsg; a regular file of records works too).
std::unique_ptr<EventSource> MakeLinuxEventSource(const std::string& proc_root,
                                                  const std::string& kmsg_path);

}  // namespace portwatch::agent
