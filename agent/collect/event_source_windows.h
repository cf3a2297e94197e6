// The Windows event source with an explicit state file (the service passes one under its data
// directory; MakeEventSource() uses %ProgramData%\portwatch\tcpip-events.json).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "collect/event_source.h"

namespace portwatch::agent {

/// Subscribes to the System log's Tcpip events 4226, 4227, 4231, 4265 and 4266. Counts and the
/// bookmark of the last event counted are saved together in `state_file` after every batch, so
/// a restart resumes after that event: nothing missed, nothing counted twice.
///
/// A subscription that breaks (EvtNext failing with anything but ERROR_NO_MORE_ITEMS: the query
/// went stale after the log rolled over, the Event Log service restarted) is made again from the
/// last event counted, with backoff; until it works the counts are reported degraded, with why.
std::unique_ptr<EventSource> MakeWindowsEventSource(const std::string& state_file);

struct Wevtapi;
/// How a broken subscription is retried.
struct EventSubscriptionRetry {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{60000};
  /// The clock the backoff is measured on (tests move it by hand).
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };
};
/// The same on the given wevtapi functions (null: none available) and retry schedule.
std::unique_ptr<EventSource> MakeWindowsEventSource(const std::string& state_file,
                                                    const Wevtapi* api,
                                                    EventSubscriptionRetry retry);

/// %ProgramData%\portwatch (or the current directory if ProgramData is not set).
std::string DefaultWindowsDataDir();

}  // namespace portwatch::agent
