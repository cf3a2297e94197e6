// Process plumbing shared by the agent and collector executables.
#pragma once

#include <signal.h>

#include <string>

namespace portwatch {

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards, and
/// returns the set so the caller can take them synchronously (sigwait / sigtimedwait). Call it
/// before starting any thread.
sigset_t BlockTerminationSignals();

/// Prints "PROGRAM: MESSAGE" to stderr and returns the exit code for a configuration error (2).
int ConfigError(const char* program, const std::string& message);

}  // namespace portwatch
