// Which process owns each socket, one implementation per OS.
//   Linux (process_attribution_linux.cc): maps socket inodes to PIDs through /proc/PID/fd,
//     rescanning only processes that changed since the last scan.
//   Windows (process_attribution_windows.cc): the socket tables already carry the owning PID;
//     names come from OpenProcess + QueryFullProcessImageName, cached by PID and start time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::agent {

struct ProcessInfo {
  uint32_t pid = 0;
  std::string name;     ///< comm on Linux, image file name on Windows ("w3wp.exe")
  std::string program;  ///< full path where known
};

class ProcessAttribution {
 public:
  virtual ~ProcessAttribution() = default;
  /// Sets `owner_pid` on every socket whose owner can be found (leaves 0 where it cannot: such
  /// sockets are reported as unattributed, never dropped). Called once per scan, after the
  /// socket table is read.
  virtual Status Attribute(std::vector<SocketEntry>* sockets) = 0;
  /// Name and program of a PID seen by the last Attribute call; nullptr if unknown.
  virtual const ProcessInfo* Info(uint32_t pid) const = 0;
};

std::unique_ptr<ProcessAttribution> MakeProcessAttribution();

}  // namespace portwatch::agent
