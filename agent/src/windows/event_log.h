// The agent's warnings and errors in the Windows Application event log, under its own source
// (the service name), so that monitoring that watches the event log sees an unreachable
// collector or a TLS failure without reading agent.log.
#pragma once

#include <memory>
#include <string>

#include "portwatch/status.h"
#include "src/log.h"

namespace portwatch::agent {

/// Event ids the agent logs with (one per level: the text carries the detail).
inline constexpr unsigned kEventIdInfo = 1;
inline constexpr unsigned kEventIdWarning = 2;
inline constexpr unsigned kEventIdError = 3;

/// A log sink sending warnings and errors (not info lines) to the Application log as `source`.
/// If the source cannot be opened the sink drops them (agent.log still has every line).
std::unique_ptr<LogSink> MakeEventLogSink(const std::string& source);

/// Registers `source` under the Application log, pointing at `executable` for its messages.
/// Called by install-service (needs an elevated prompt).
Status RegisterEventLogSource(const std::string& source, const std::string& executable);

/// Removes what RegisterEventLogSource created; absent already is not an error.
Status UnregisterEventLogSource(const std::string& source);

/// The registry key of `source` (below HKEY_LOCAL_MACHINE), for tests.
std::string EventLogSourceKey(const std::string& source);

}  // namespace portwatch::agent
