// Socket inode -> PID through /proc/PID/fd, as ss -p does, but incrementally: ss reads every fd
// of every process on each run; here a socket's owner is remembered while the socket lives, and
// only processes not seen before are read, unless an unknown socket calls for a wider search.
#include "collect/process_attribution_linux.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "portwatch/files.h"
#include "portwatch/text.h"

namespace portwatch::agent {
namespace {

// A socket whose owner cannot be read (another user's process without privilege, or one that
// exited) would otherwise trigger a search of every process on every scan.
constexpr int kFullSearchEvery = 10;

bool ParsePid(const char* name, uint32_t* pid) {
  if (*name < '1' || *name > '9') return false;
  char* end = nullptr;
  unsigned long v = std::strtoul(name, &end, 10);
  if (*end != '\0' || v > 0xffffffffUL) return false;
  *pid = static_cast<uint32_t>(v);
  return true;
}

// "socket:[12345]" -> 12345.
bool SocketInode(const char* link, size_t len, uint64_t* inode) {
  static constexpr char kPrefix[] = "socket:[";
  constexpr size_t kPrefixLen = sizeof kPrefix - 1;
  if (len <= kPrefixLen + 1 || std::memcmp(link, kPrefix, kPrefixLen) != 0 ||
      link[len - 1] != ']') {
    return false;
  }
  uint64_t v = 0;
  for (size_t i = kPrefixLen; i + 1 < len; ++i) {
    if (link[i] < '0' || link[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(link[i] - '0');
  }
  *inode = v;
  return true;
}

class LinuxAttribution final : public LinuxProcessAttribution {
 public:
  explicit LinuxAttribution(std::string proc_root) : root_(std::move(proc_root)) {}

  Status Attribute(std::vector<SocketEntry>* sockets) override {
    stats_ = {};
    ++calls_;
    std::unordered_set<uint64_t> wanted;
    for (const SocketEntry& e : *sockets) {
      if (e.inode != 0 && owner_.find(e.inode) == owner_.end()) wanted.insert(e.inode);
    }

    std::vector<uint32_t> pids;
    Status st = ListPids(&pids);
    if (!st.ok()) return st;
    stats_.pids_listed = static_cast<uint32_t>(pids.size());
    std::unordered_set<uint32_t> alive(pids.begin(), pids.end());
    // Forget processes that exited; their sockets are re-attributed if still open elsewhere.
    for (auto it = procs_.begin(); it != procs_.end();) {
      it = alive.count(it->first) ? std::next(it) : procs_.erase(it);
    }

    // New processes first: they are where new sockets usually come from, and reading them now
    // keeps the cache complete.
    for (uint32_t pid : pids) {
      if (procs_.count(pid) == 0) ScanProcess(pid, &wanted);
    }
    // Unknown sockets left: search known processes, but only when they are not all sockets we
    // already failed to place, or on every kFullSearchEvery-th call.
    bool search = false;
    for (uint64_t inode : wanted) {
      if (unplaceable_.count(inode) == 0) search = true;
    }
    if (!wanted.empty() && (search || calls_ % kFullSearchEvery == 0)) {
      // Processes that already own sockets are the likeliest to have opened the new ones.
      std::vector<uint32_t> order;
      std::unordered_set<uint32_t> owners;
      for (const auto& [inode, owner] : owner_) {
        if (owners.insert(owner.pid).second) order.push_back(owner.pid);
      }
      for (uint32_t pid : pids) {
        if (!owners.count(pid)) order.push_back(pid);
      }
      for (uint32_t pid : order) {
        if (wanted.empty()) break;
        if (alive.count(pid) && !scanned_this_call_.count(pid)) ScanProcess(pid, &wanted);
      }
    }
    unplaceable_ = wanted;
    stats_.unresolved = static_cast<uint32_t>(wanted.size());
    scanned_this_call_.clear();

    // Assign owners, then drop cache entries for sockets that are gone (mark and sweep, so no
    // second map is built per scan).
    for (SocketEntry& e : *sockets) {
      if (e.inode == 0) continue;
      auto it = owner_.find(e.inode);
      if (it != owner_.end() && procs_.count(it->second.pid)) {
        e.owner_pid = it->second.pid;
        it->second.seen = calls_;
      }
    }
    for (auto it = owner_.begin(); it != owner_.end();) {
      it = it->second.seen == calls_ ? std::next(it) : owner_.erase(it);
    }
    return Status::Ok();
  }

  const ProcessInfo* Info(uint32_t pid) const override {
    auto it = procs_.find(pid);
    return it == procs_.end() ? nullptr : &it->second;
  }

  const AttributionStats& last_stats() const override { return stats_; }

 private:
  Status ListPids(std::vector<uint32_t>* pids) {
    DIR* d = ::opendir(root_.c_str());
    if (d == nullptr) {
      return Status::Error("cannot list processes in " + root_ + ": " + std::strerror(errno) +
                           "; is /proc mounted?");
    }
    while (dirent* ent = ::readdir(d)) {
      uint32_t pid;
      if (ParsePid(ent->d_name, &pid)) pids->push_back(pid);
    }
    ::closedir(d);
    return Status::Ok();
  }

  // Reads one process's fds: records every socket inode it holds, removes found ones from
  // `wanted`, and reads its name the first time. A process we may not read is still recorded
  // (so it is not retried every scan) with no sockets.
  void ScanProcess(uint32_t pid, std::unordered_set<uint64_t>* wanted) {
    ++stats_.pids_scanned;
    scanned_this_call_.insert(pid);
    const std::string dir = root_ + "/" + std::to_string(pid);
    auto [it, inserted] = procs_.try_emplace(pid);
    if (inserted) {
      it->second.pid = pid;
      auto comm = ReadFileLimited(dir + "/comm", 256, "comm");
      // comm and argv are whatever the process (any local user) set: bounded and made valid,
      // escaped UTF-8 here, so one hostile name can never make a report unsendable.
      if (comm.ok()) {
        std::string c = *comm;
        while (!c.empty() && (c.back() == '\n' || c.back() == '\0')) c.pop_back();
        it->second.name = SanitizeText(c, kMaxProcessNameBytes);
      }
      auto cmdline = ReadFileLimited(dir + "/cmdline", 1 << 16, "cmdline");
      if (cmdline.ok()) {
        it->second.program =
            SanitizeText(std::string_view(*cmdline).substr(0, cmdline->find('\0')),
                         kMaxProgramBytes);
      }
    }
    const std::string fd_dir = dir + "/fd";
    DIR* d = ::opendir(fd_dir.c_str());
    if (d == nullptr) return;  // exited, or not ours to read: its sockets stay unattributed
    const int dfd = ::dirfd(d);
    char link[64];
    while (dirent* ent = ::readdir(d)) {
      if (ent->d_name[0] == '.') continue;
      ssize_t n = ::readlinkat(dfd, ent->d_name, link, sizeof link);
      uint64_t inode;
      if (n <= 0 || !SocketInode(link, static_cast<size_t>(n), &inode)) continue;
      // A socket shared after fork keeps its first owner; `seen` is set when it is assigned.
      owner_.emplace(inode, Owner{pid, 0});
      wanted->erase(inode);
    }
    ::closedir(d);
  }

  std::string root_;
  uint64_t calls_ = 0;
  std::unordered_map<uint32_t, ProcessInfo> procs_;   // every process seen (and still alive)
  struct Owner {
    uint32_t pid;
    uint64_t seen;  // the Attribute call that last saw the socket
  };
  std::unordered_map<uint64_t, Owner> owner_;         // socket inode -> owner
  std::unordered_set<uint64_t> unplaceable_;          // inodes the last search could not place
  std::unordered_set<uint32_t> scanned_this_call_;
  AttributionStats stats_;
};

}  // namespace

std::unique_ptr<LinuxProcessAttribution> MakeLinuxProcessAttribution(const std::string& proc_root) {
  return std::make_unique<LinuxAttribution>(proc_root);
}

std::unique_ptr<ProcessAttribution> MakeProcessAttribution() {
  return MakeLinuxProcessAttribution("/proc");
}

}  // namespace portwatch::agent
