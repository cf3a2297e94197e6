// The agent as a Windows service: installation into the service control manager (SCM), removal,
// and running under it with stop and shutdown handled.
#pragma once

#include <windows.h>

#include <functional>
#include <string>

#include "portwatch/status.h"

namespace portwatch::agent::service {

inline constexpr char kDefaultServiceName[] = "portwatch-agent";

struct InstallOptions {
  std::string name = kDefaultServiceName;
  std::string executable;            ///< full path of portwatch-agent.exe
  std::string arguments;             ///< command line after the executable (QuoteWindowsArgument)
  std::string account;               ///< empty: LocalSystem
  bool start = false;                ///< start it once installed
};

/// Creates an automatically started service (restarted by the SCM after a failure). An error if
/// it exists already or the caller may not create services (run from an elevated prompt).
Status Install(const InstallOptions& options);

/// Stops the service (waiting up to 30 s) and deletes it.
Status Uninstall(const std::string& name);

/// The body of the service: runs until `stop` is signalled and returns the exit code.
using ServiceBody = std::function<int(HANDLE stop)>;

/// Connects to the SCM and runs `body` as service `name`; returns when the service has stopped.
/// An error when the process was not started by the SCM (run it from a console with `run`).
Status RunUnderScm(const std::string& name, ServiceBody body);

}  // namespace portwatch::agent::service
