// Windows process attribution: the socket tables already carry the owning PID, so this only
// names processes. OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION) is granted for most processes
// even to a non-admin (unlike PROCESS_QUERY_INFORMATION), and names are cached by PID and start
// time so a scan costs one GetProcessTimes per PID, not a path lookup.
#include <windows.h>

#include <algorithm>

#include "collect/process_attribution.h"
#include "collect/windows_mapping.h"
#include "portwatch/win32.h"

namespace portwatch::agent {
namespace {

bool StartTime(uint32_t pid, uint64_t* start) {
  win32::UniqueHandle h(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (!h.valid()) return false;
  FILETIME created, exited, kernel, user;
  if (!GetProcessTimes(h.get(), &created, &exited, &kernel, &user)) return false;
  *start = (uint64_t{created.dwHighDateTime} << 32) | created.dwLowDateTime;
  return true;
}

bool ImagePath(uint32_t pid, std::string* path) {
  win32::UniqueHandle h(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (!h.valid()) return false;
  // Paths can exceed MAX_PATH; 32 K characters is the NT limit.
  std::wstring buf(1024, L'\0');
  for (;;) {
    DWORD n = static_cast<DWORD>(buf.size());
    if (QueryFullProcessImageNameW(h.get(), 0, buf.data(), &n)) {
      *path = win32::Narrow(buf.data(), n);
      return true;
    }
    if (GetLastError() != ERROR_INSUFFICIENT_BUFFER || buf.size() >= 32768) return false;
    buf.resize(buf.size() * 4);
  }
}

class WindowsProcessAttribution final : public ProcessAttribution {
 public:
  WindowsProcessAttribution() : cache_(StartTime, ImagePath) {}

  Status Attribute(std::vector<SocketEntry>* sockets) override {
    pids_.clear();
    for (const SocketEntry& e : *sockets) pids_.push_back(e.owner_pid);
    std::sort(pids_.begin(), pids_.end());
    pids_.erase(std::unique(pids_.begin(), pids_.end()), pids_.end());
    cache_.Refresh(pids_);
    return Status::Ok();
  }

  const ProcessInfo* Info(uint32_t pid) const override { return cache_.Info(pid); }

 private:
  win::ProcessNameCache cache_;
  std::vector<uint32_t> pids_;
};

}  // namespace

std::unique_ptr<ProcessAttribution> MakeProcessAttribution() {
  return std::make_unique<WindowsProcessAttribution>();
}

}  // namespace portwatch::agent
