#include "collect/event_source_linux.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "collect/kmsg_lines.h"
#include "collect/proc_counters.h"
#include "portwatch/files.h"

namespace portwatch::agent {
namespace {

// Counters that signal port, queue or SYN trouble, plus the connection churn that explains them.
// A kernel without one of them simply does not report it.
constexpr const char* kCounters[] = {
    "TcpExt.TCPTimeWaitOverflow", "TcpExt.ListenOverflows",    "TcpExt.ListenDrops",
    "TcpExt.SyncookiesSent",      "TcpExt.SyncookiesRecv",     "TcpExt.SyncookiesFailed",
    "TcpExt.TCPReqQFullDrop",     "TcpExt.TCPReqQFullDoCookies", "TcpExt.TCPAbortOnMemory",
    "TcpExt.TCPAbortFailed",      "TcpExt.TCPMemoryPressures", "TcpExt.TCPBacklogDrop",
    "TcpExt.TW",                  "Tcp.ActiveOpens",           "Tcp.PassiveOpens",
    "Tcp.AttemptFails",           "Tcp.EstabResets",           "Tcp.RetransSegs",
    "Tcp.OutRsts",                "Tcp.InErrs",
};

int64_t MonotonicUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

class LinuxEventSource final : public EventSource {
 public:
  LinuxEventSource(std::string proc_root, std::string kmsg_path)
      : proc_root_(std::move(proc_root)), kmsg_path_(std::move(kmsg_path)) {
    for (const char* name : {"kmsg.tcp_tw_bucket_overflow", "kmsg.tcp_syn_flood"}) {
      kmsg_counts_[name] = EventCounter{name, 0, 0};
    }
  }
  ~LinuxEventSource() override {
    if (kmsg_fd_ >= 0) ::close(kmsg_fd_);
  }

  Status Read(EventCounts* out) override {
    out->counters.clear();
    out->degraded = false;
    out->degraded_reason.clear();
    std::map<std::string, uint64_t> all;
    for (const char* file : {"/proc/net/netstat", "/proc/net/snmp"}) {
      auto text = ReadFileLimited(proc_root_ + file, 1 << 20, file);
      if (!text.ok()) return text.status();
      auto parsed = ParseProcNetCounters(*text);
      if (!parsed.ok()) return Status::Error(std::string(file) + ": " + parsed.error());
      all.insert(parsed->begin(), parsed->end());
    }
    for (const char* name : kCounters) {
      auto it = all.find(name);
      if (it != all.end()) out->counters.push_back(EventCounter{name, it->second, 0});
    }
    const std::string kmsg_problem = ReadKmsg();
    if (kmsg_problem.empty()) {
      for (const auto& [name, c] : kmsg_counts_) out->counters.push_back(c);
    } else {
      out->degraded = true;
      out->degraded_reason = kmsg_problem;
    }
    std::sort(out->counters.begin(), out->counters.end(),
              [](const EventCounter& a, const EventCounter& b) { return a.name < b.name; });
    return Status::Ok();
  }

 private:
  // Reads whatever the kernel log has that is new; returns "" or why it cannot be read.
  std::string ReadKmsg() {
    if (kmsg_fd_ < 0) {
      kmsg_fd_ = ::open(kmsg_path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (kmsg_fd_ < 0) {
        return "cannot read " + kmsg_path_ + " (" + std::strerror(errno) +
               "): kernel log counts (time wait bucket overflow, SYN flooding) are missing; run "
               "the agent as root or with CAP_SYSLOG, or set kernel.dmesg_restrict=0";
      }
    }
    // One record per read() on /dev/kmsg; a regular file returns many at once.
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(kmsg_fd_, buf, sizeof buf);
      if (n > 0) {
        CountRecords(std::string_view(buf, static_cast<size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EPIPE) continue;  // records overwritten before we read them: go on
      if (n < 0 && errno != EAGAIN) {
        std::string why = std::strerror(errno);
        ::close(kmsg_fd_);
        kmsg_fd_ = -1;
        return "reading " + kmsg_path_ + " failed (" + why + "); will reopen next interval";
      }
      return "";  // EAGAIN or end of a regular file: nothing more now
    }
  }

  void CountRecords(std::string_view data) {
    size_t pos = 0;
    while (pos < data.size()) {
      size_t end = data.find('\n', pos);
      std::string_view line = data.substr(pos, end == std::string_view::npos ? end : end - pos);
      pos = end == std::string_view::npos ? data.size() : end + 1;
      if (line.empty() || line[0] == ' ') continue;  // continuation lines carry key=value pairs
      std::string_view msg = KmsgRecordMessage(line);
      std::string_view counter = KmsgCounterFor(msg);
      if (counter.empty()) continue;
      EventCounter& c = kmsg_counts_[std::string(counter)];
      ++c.value;
      // The record's third field is microseconds since boot on the monotonic clock.
      int64_t rec_us = 0;
      size_t c1 = line.find(','), c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
      if (c2 != std::string_view::npos) {
        for (size_t i = c2 + 1; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
          rec_us = rec_us * 10 + (line[i] - '0');
        }
      }
      const int64_t ago_ms = std::max<int64_t>(0, (MonotonicUs() - rec_us) / 1000);
      c.last_unix_ms = NowUnixMs() - ago_ms;
    }
  }

  std::string proc_root_;
  std::string kmsg_path_;
  int kmsg_fd_ = -1;
  std::map<std::string, EventCounter> kmsg_counts_;
};

}  // namespace

std::unique_ptr<EventSource> MakeLinuxEventSource(const std::string& proc_root,
                                                  const std::string& kmsg_path) {
  return std::make_unique<LinuxEventSource>(proc_root, kmsg_path);
}

std::unique_ptr<EventSource> MakeEventSource() { return MakeLinuxEventSource("", "/dev/kmsg"); }

}  // namespace portwatch::agent
