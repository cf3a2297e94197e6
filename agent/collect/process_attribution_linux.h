// The Linux process attribution, constructible on another /proc for tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "collect/process_attribution.h"

namespace portwatch::agent {

/// What the last Attribute call cost, for tests and the benchmark.
struct AttributionStats {
  uint32_t pids_listed = 0;   ///< processes in /proc
  uint32_t pids_scanned = 0;  ///< processes whose fd directory was read
  uint32_t unresolved = 0;    ///< sockets with an inode whose owner was not found
};

class LinuxProcessAttribution : public ProcessAttribution {
 public:
  virtual const AttributionStats& last_stats() const = 0;
};

/// `proc_root` is the directory that holds the PID directories ("/proc" normally).
std::unique_ptr<LinuxProcessAttribution> MakeLinuxProcessAttribution(const std::string& proc_root);

}  // namespace portwatch::agent
