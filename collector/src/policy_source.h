// Where the collector's policy comes from: the --policy file (or the built-in default), loaded
// at start, reloaded on SIGHUP and when the file changes. A refused file is logged with its line
// and problem, counted, and the policy in force stays.
#pragma once

#include <cstdint>
#include <string>

#include "portwatch/policy/policy.h"
#include "portwatch/status.h"
#include "src/fleet_state.h"
#include "src/policy_monitor.h"

namespace portwatch::collector {

/// `path` empty: the built-in default policy; else the YAML file, validated.
Expected<policy::Policy> LoadCollectorPolicy(const std::string& path);

/// Feeds every restored host's last settings and latest report to `monitor`, so violations show
/// at once after a restart. Returns the hosts given.
size_t RestorePolicy(const FleetState& fleet, PolicyMonitor& monitor);

class PolicyFileWatcher {
 public:
  /// Watches `path` (nothing to watch when empty: the built-in policy).
  PolicyFileWatcher(std::string path, PolicyMonitor& monitor);
  /// Reloads now (SIGHUP). Returns whether the new policy is in force.
  bool Reload(int64_t now_unix_ms);
  /// Reloads when the file's modification time or size changed since the last look.
  void Poll(int64_t now_unix_ms);

 private:
  bool Changed();
  const std::string path_;
  PolicyMonitor& monitor_;
  int64_t mtime_ns_ = 0;
  int64_t size_ = -1;
};

}  // namespace portwatch::collector
