// Process names by PID, cached by start time, sanitized at the source.
#include "collect/windows_mapping.h"

#include <unordered_set>

#include "portwatch/text.h"

namespace portwatch::agent::win {

std::string ImageBaseName(const std::string& path) {
  size_t slash = path.find_last_of("\\/");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

ProcessNameCache::ProcessNameCache(StartTimeFn start_time, ImagePathFn image_path)
    : start_time_(std::move(start_time)), image_path_(std::move(image_path)) {}

void ProcessNameCache::Refresh(const std::vector<uint32_t>& pids) {
  // The System process (PID 4) owns kernel-mode sockets (http.sys, SMB); it has no image path.
  constexpr uint32_t kSystemPid = 4;
  std::unordered_set<uint32_t> seen;
  for (uint32_t pid : pids) {
    if (pid == 0 || !seen.insert(pid).second) continue;
    uint64_t start = 0;
    if (!start_time_(pid, &start)) {
      // Gone or not openable: nothing to key a cache entry on; try again next scan.
      entries_.erase(pid);
      if (pid == kSystemPid) entries_[pid] = {0, {pid, "System", ""}};
      continue;
    }
    auto it = entries_.find(pid);
    if (it != entries_.end() && it->second.start_time == start) continue;
    Entry e;
    e.start_time = start;
    e.info.pid = pid;
    ++path_lookups_;
    std::string raw;
    if (image_path_(pid, &raw)) {
      // File names may hold what a terminal or a log reads as control (bidirectional overrides
      // are legal in NTFS names, the classic "exe.txt" spoof), and paths run to 32 K
      // characters: bounded and escaped here, at the source, as on Linux.
      e.info.name = SanitizeText(ImageBaseName(raw), kMaxProcessNameBytes);
      e.info.program = SanitizeText(raw, kMaxProgramBytes);
    } else if (pid == kSystemPid) {
      e.info.name = "System";
    }
    entries_[pid] = std::move(e);
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = seen.count(it->first) ? std::next(it) : entries_.erase(it);
  }
}

const ProcessInfo* ProcessNameCache::Info(uint32_t pid) const {
  auto it = entries_.find(pid);
  return it == entries_.end() ? nullptr : &it->second.info;
}

}  // namespace portwatch::agent::win
