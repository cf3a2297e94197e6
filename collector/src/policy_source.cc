#include "src/policy_source.h"

#include <sys/stat.h>

#include <cstdio>

#include "portwatch/policy/default_policy.h"
#include "portwatch/policy/policy_yaml.h"

namespace portwatch::collector {

Expected<policy::Policy> LoadCollectorPolicy(const std::string& path) {
  if (path.empty()) return policy::DefaultPolicy();
  auto p = policy::LoadPolicyFile(path);
  if (!p.ok()) {
    return Status::Error("--policy: " + p.error() +
                         "; fix the file or start without --policy "
                         "for the built-in default policy");
  }
  return p;
}

size_t RestorePolicy(const FleetState& fleet, PolicyMonitor& monitor) {
  size_t n = 0;
  fleet.ForEach([&](const HostView& h) {
    if (h.config == nullptr) return;
    monitor.Restore(h.host, *h.config, h.report.get());
    ++n;
  });
  monitor.Tick();
  return n;
}

PolicyFileWatcher::PolicyFileWatcher(std::string path, PolicyMonitor& monitor)
    : path_(std::move(path)), monitor_(monitor) {
  Changed();  // the file as loaded at start is the baseline
}

bool PolicyFileWatcher::Changed() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;  // being replaced: look again next time
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  const int64_t size = static_cast<int64_t>(st.st_size);
  const bool changed = mtime != mtime_ns_ || size != size_;
  mtime_ns_ = mtime;
  size_ = size;
  return changed;
}

bool PolicyFileWatcher::Reload(int64_t now_unix_ms) {
  Changed();
  auto p = LoadCollectorPolicy(path_);
  if (!p.ok()) {
    std::fprintf(stderr,
                 "portwatch-collector: policy reload refused, the policy in force stays: %s\n",
                 p.error().c_str());
    monitor_.ReloadFailed(p.error());
    return false;
  }
  const size_t rules = p->rules.size();
  const std::string origin = p->origin;
  monitor_.Reload(std::move(*p), now_unix_ms);
  std::fprintf(stderr, "portwatch-collector: policy reloaded from %s (%zu rules)\n", origin.c_str(),
               rules);
  return true;
}

void PolicyFileWatcher::Poll(int64_t now_unix_ms) {
  if (!path_.empty() && Changed()) Reload(now_unix_ms);
}

}  // namespace portwatch::collector
