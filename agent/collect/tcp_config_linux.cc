#include <sys/utsname.h>

#include <algorithm>
#include <cstdlib>

#include "collect/tcp_config.h"
#include "portwatch/files.h"

namespace portwatch::agent {
namespace {

struct Sysctl {
  const char* key;   // as sysctl(8) names it
  bool is_int;
};

// The settings that bound the port space, TIME_WAIT, SYN handling and accept queues.
constexpr Sysctl kSysctls[] = {
    {"net.core.somaxconn", true},
    {"net.ipv4.ip_local_port_range", false},
    {"net.ipv4.ip_local_reserved_ports", false},
    {"net.ipv4.tcp_fin_timeout", true},
    {"net.ipv4.tcp_max_orphans", true},
    {"net.ipv4.tcp_max_syn_backlog", true},
    {"net.ipv4.tcp_max_tw_buckets", true},
    {"net.ipv4.tcp_orphan_retries", true},
    {"net.ipv4.tcp_syncookies", true},
    {"net.ipv4.tcp_tw_reuse", true},
};

std::string Collapse(const std::string& s) {
  // "32768\t60999\n" -> "32768 60999": one canonical spacing so equal settings compare equal.
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

}  // namespace

Expected<EphemeralPorts> ReadEphemeralPorts(const std::string& root) {
  const std::string dir = root + "/proc/sys/net/ipv4/";
  auto range_text = ReadFileLimited(dir + "ip_local_port_range", 4096, "ip_local_port_range");
  if (!range_text.ok()) return range_text.status();
  auto range = ParsePortRangeText(*range_text);
  if (!range.ok()) return range.status();
  EphemeralPorts ep;
  ep.range = *range;
  ep.source = RangeSource::kSysctl;
  // Older kernels have no reserved ports file: then nothing is reserved.
  auto reserved_text =
      ReadFileLimited(dir + "ip_local_reserved_ports", 1 << 20, "ip_local_reserved_ports");
  if (reserved_text.ok()) {
    auto reserved = ParseReservedPortsText(*reserved_text, ep.range);
    if (!reserved.ok()) return reserved.status();
    ep.reserved = std::move(*reserved);
  }
  return ep;
}

Expected<ConfigSnapshot> ReadTcpConfig(const std::string& root) {
  ConfigSnapshot snap;
  utsname u{};
  if (root.empty() && uname(&u) == 0) snap.os_version = std::string("Linux ") + u.release;
  if (!root.empty()) {
    auto rel = ReadFileLimited(root + "/proc/sys/kernel/osrelease", 256, "osrelease");
    if (rel.ok()) snap.os_version = "Linux " + Collapse(*rel);
  }
  for (const Sysctl& s : kSysctls) {
    std::string path = root + "/proc/sys/" + s.key;
    std::replace(path.begin() + static_cast<std::ptrdiff_t>(root.size()) + 10, path.end(), '.',
                 '/');
    ConfigValue v;
    v.key = s.key;
    auto text = ReadFileLimited(path, 1 << 20, s.key);
    if (text.ok()) {
      const std::string t = Collapse(*text);
      if (s.is_int) {
        char* end = nullptr;
        const long long n = std::strtoll(t.c_str(), &end, 10);
        if (t.empty() || end == nullptr || *end != '\0') {
          return Status::Error(std::string(s.key) + " has value '" + t +
                               "', not a number; is /proc/sys readable?");
        }
        v.present = true;
        v.int_value = n;
      } else {
        v.present = true;
        v.type = ConfigValue::Type::kString;
        v.string_value = t;
      }
    }
    // A sysctl this kernel does not have is reported absent, not zero.
    snap.values.push_back(std::move(v));
  }
  return snap;
}

}  // namespace portwatch::agent
