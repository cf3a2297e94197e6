// The Windows event source with an explicit state file (the service passes one under its data
// directory; MakeEventSource() uses %ProgramData%\portwatch\tcpip-events.json).
#pragma once

#include <memory>
#include <string>

#include "collect/event_source.h"

namespace portwatch::agent {

/// Subscribes to the System log's Tcpip events 4226, 4227, 4231, 4265 and 4266. Counts and the
/// bookmark of the last event counted are saved together in `state_file` after every batch, so
/// a restart resumes after that event: nothing missed, nothing counted twice.
std::unique_ptr<EventSource> MakeWindowsEventSource(const std::string& state_file);

/// %ProgramData%\portwatch (or the current directory if ProgramData is not set).
std::string DefaultWindowsDataDir();

}  // namespace portwatch::agent
