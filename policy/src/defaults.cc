#include "portwatch/policy/defaults.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace portwatch::policy {
namespace {

struct DefaultEntry {
  const char* key;
  double number;
  const char* text;  // nullptr: numeric
  const char* source;
};

// Windows Server 2003 (builds before 6000; 3790 for every service pack). Where Microsoft's own
// pages disagree (the 2003 TcpTimedWaitDelay page's table says 0x78 while its text says 4 min),
// the value the stack actually uses, 240 s, is the one kept.
constexpr char kKb314053[] =
    "Microsoft, TCP/IP and NBT configuration parameters for Windows (KB 314053); "
    "TechNet Tcpip\\Parameters reference for Windows Server 2003";
constexpr char kKb324270[] =
    "Microsoft, How to harden the TCP/IP stack against denial of service attacks in Windows "
    "Server 2003 (KB 324270)";
constexpr char kKb196271[] =
    "Microsoft, When you try to connect from TCP ports greater than 5000 you receive the error "
    "'WSAENOBUFS (10055)' (KB 196271)";
constexpr DefaultEntry kWindows2003[] = {
    {"Tcpip.TcpTimedWaitDelay", 240, nullptr, kKb314053},
    {"Tcpip.MaxUserPort", 5000, nullptr, kKb196271},
    {"Tcpip.TcpNumConnections", 16777214, nullptr, kKb314053},
    {"Tcpip.TcpMaxHalfOpen", 500, nullptr, kKb324270},
    {"Tcpip.TcpMaxHalfOpenRetried", 400, nullptr, kKb324270},
    {"Tcpip.TcpMaxConnectResponseRetransmissions", 2, nullptr, kKb324270},
    // SynAttackProtect: 0 on 2003 RTM, 1 from SP1 on (handled in Effective: it depends on the SP).
    {"Tcpip.EnableConnectionRateLimiting", 0, nullptr,
     "Microsoft KB 969710: the value exists from Windows Vista SP2 / Server 2008 SP2 on"},
};

constexpr char kKb929851[] =
    "Microsoft, The default dynamic port range for TCP/IP has changed since Windows Vista and in "
    "Windows Server 2008 (KB 929851)";
constexpr char kKb969710[] =
    "Microsoft, How to enable the half-open TCP connections limit in Windows Vista SP2 and "
    "Windows Server 2008 SP2 (KB 969710): disabled by default";
constexpr char kTimedWaitVista[] =
    "Microsoft, TcpTimedWaitDelay: 2 MSL; 120 s from Windows Vista / Server 2008 on";
constexpr DefaultEntry kWindows2008[] = {
    {"Tcpip.TcpTimedWaitDelay", 120, nullptr, kTimedWaitVista},
    {"Tcpip.DynamicPortRange.TCP.StartPort", 49152, nullptr, kKb929851},
    {"Tcpip.DynamicPortRange.TCP.NumberOfPorts", 16384, nullptr, kKb929851},
    {"Tcpip.EnableConnectionRateLimiting", 0, nullptr, kKb969710},
};
constexpr DefaultEntry kWindows2012[] = {
    {"Tcpip.TcpTimedWaitDelay", 120, nullptr, kTimedWaitVista},
    {"Tcpip.DynamicPortRange.TCP.StartPort", 49152, nullptr, kKb929851},
    {"Tcpip.DynamicPortRange.TCP.NumberOfPorts", 16384, nullptr, kKb929851},
    {"Tcpip.EnableConnectionRateLimiting", 0, nullptr, kKb969710},
    {"Tcpip.AutoReusePortRange.TCP.NumberOfPorts", 0, nullptr,
     "Microsoft, Set-NetTCPSetting -AutoReusePortRangeNumberOfPorts: 0 (off) unless configured"},
};

// Linux: every listed sysctl exists on the kernels agents run, so these apply only when a
// kernel lacks the file. Sources: Documentation/networking/ip-sysctl.rst of that release.
constexpr char kIpSysctl[] = "Linux Documentation/networking/ip-sysctl.rst";
constexpr DefaultEntry kLinuxAll[] = {
    {"net.ipv4.ip_local_port_range", 0, "32768 60999", kIpSysctl},
    {"net.ipv4.ip_local_reserved_ports", 0, "", kIpSysctl},
    {"net.ipv4.tcp_syncookies", 1, nullptr, kIpSysctl},
    {"net.ipv4.tcp_fin_timeout", 60, nullptr, kIpSysctl},
};
// tcp_tw_reuse became 0/1/2 with 2 (loopback only) the default in 4.19 (commit 79e9fed46038);
// SOMAXCONN rose from 128 to 4096 in 5.4 (commit 19f92a030ca6).
constexpr DefaultEntry kLinuxBefore419[] = {
    {"net.ipv4.tcp_tw_reuse", 0, nullptr, kIpSysctl},
};
constexpr DefaultEntry kLinuxFrom419[] = {
    {"net.ipv4.tcp_tw_reuse", 2, nullptr, "Linux 4.19, commit 79e9fed46038 (ip-sysctl.rst)"},
};
constexpr DefaultEntry kLinuxBefore54[] = {
    {"net.core.somaxconn", 128, nullptr, kIpSysctl},
};
constexpr DefaultEntry kLinuxFrom54[] = {
    {"net.core.somaxconn", 4096, nullptr, "Linux 5.4, commit 19f92a030ca6 (SOMAXCONN 4096)"},
};

template <size_t N>
const DefaultEntry* Find(const DefaultEntry (&table)[N], const std::string& key) {
  for (const DefaultEntry& e : table) {
    if (key == e.key) return &e;
  }
  return nullptr;
}

const DefaultEntry* FindDefault(OsKind os, const OsVersion& v, const std::string& key) {
  if (!v.known) return nullptr;
  if (os == OsKind::kWindows) {
    switch (EraOfBuild(v.windows_build())) {
      case WindowsEra::k2003:
        return Find(kWindows2003, key);
      case WindowsEra::k2008:
        return Find(kWindows2008, key);
      case WindowsEra::k2012:
        return Find(kWindows2012, key);
      case WindowsEra::kUnknown:
        return nullptr;
    }
    return nullptr;
  }
  if (os == OsKind::kLinux) {
    if (const DefaultEntry* e = Find(kLinuxAll, key)) return e;
    const bool from419 = CompareVersion(os, v, {4, 19}) >= 0;
    const bool from54 = CompareVersion(os, v, {5, 4}) >= 0;
    if (const DefaultEntry* e = from419 ? Find(kLinuxFrom419, key) : Find(kLinuxBefore419, key)) {
      return e;
    }
    return from54 ? Find(kLinuxFrom54, key) : Find(kLinuxBefore54, key);
  }
  return nullptr;
}

const ConfigValue* Lookup(const ConfigSnapshot& config, const std::string& key) {
  for (const ConfigValue& v : config.values) {
    if (v.key == key) return &v;
  }
  return nullptr;
}

EffectiveValue Number(double n, bool is_default, std::string source = "") {
  EffectiveValue e;
  e.known = true;
  e.number = n;
  e.is_default = is_default;
  e.default_source = std::move(source);
  return e;
}

// "32768 60999" -> {32768, 60999}; false on anything else.
bool ParseRange(const std::string& text, int64_t* low, int64_t* high) {
  char* end = nullptr;
  const long long a = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str()) return false;
  char* end2 = nullptr;
  const long long b = std::strtoll(end, &end2, 10);
  if (end2 == end || *end2 != '\0' || a < 0 || b < a || b > 65535) return false;
  *low = a;
  *high = b;
  return true;
}

// Ports of [low, high] listed in ip_local_reserved_ports text ("8080,9000-9010").
int64_t ReservedWithin(const std::string& text, int64_t low, int64_t high) {
  int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    const size_t dash = item.find('-');
    const int64_t a = std::atoll(item.substr(0, dash).c_str());
    const int64_t b = dash == std::string::npos ? a : std::atoll(item.substr(dash + 1).c_str());
    const int64_t lo = std::max(a, low), hi = std::min(b, high);
    if (hi >= lo) total += hi - lo + 1;
  }
  return total;
}

}  // namespace

OsVersion ParseOsVersion(OsKind os, const std::string& text) {
  OsVersion v;
  const char* prefix = os == OsKind::kWindows ? "Windows " : os == OsKind::kLinux ? "Linux " : "";
  size_t pos = 0;
  if (text.rfind(prefix, 0) == 0) pos = std::strlen(prefix);
  while (pos < text.size() && v.parts.size() < 3) {
    if (text[pos] < '0' || text[pos] > '9') break;
    int64_t n = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && n < 100000000) {
      n = n * 10 + (text[pos] - '0');
      ++pos;
    }
    v.parts.push_back(n);
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
    } else {
      break;
    }
  }
  v.known = os == OsKind::kWindows ? v.parts.size() == 3 : !v.parts.empty();
  while (v.parts.size() < 3) v.parts.push_back(0);
  if (os == OsKind::kWindows) {
    const size_t sp = text.find("Service Pack ");
    if (sp != std::string::npos) v.service_pack = std::atoi(text.c_str() + sp + 13);
  }
  return v;
}

std::optional<std::vector<int64_t>> ParseVersionBound(const std::string& text) {
  std::vector<int64_t> parts;
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] < '0' || text[pos] > '9') return std::nullopt;
    int64_t n = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (n > 100000000) return std::nullopt;
      n = n * 10 + (text[pos] - '0');
      ++pos;
    }
    parts.push_back(n);
    if (pos < text.size()) {
      if (text[pos] != '.' || pos + 1 == text.size()) return std::nullopt;
      ++pos;
    }
  }
  if (parts.empty() || parts.size() > 3) return std::nullopt;
  return parts;
}

int CompareVersion(OsKind os, const OsVersion& version, const std::vector<int64_t>& bound) {
  std::vector<int64_t> mine = version.parts;
  if (os == OsKind::kWindows) mine = {version.windows_build()};
  for (size_t i = 0; i < std::max(mine.size(), bound.size()); ++i) {
    const int64_t a = i < mine.size() ? mine[i] : 0;
    const int64_t b = i < bound.size() ? bound[i] : 0;
    if (a != b) return a < b ? -1 : 1;
  }
  return 0;
}

WindowsEra EraOfBuild(int64_t build) {
  if (build <= 0) return WindowsEra::kUnknown;
  if (build < 6000) return WindowsEra::k2003;  // 2003 / XP and earlier: 3790 and below
  if (build < 9200) return WindowsEra::k2008;  // Vista / 2008 (6001, 6002), 7 / 2008 R2 (7600/1)
  return WindowsEra::k2012;                    // 8 / 2012 (9200) and later
}

std::string EffectiveValue::Describe() const {
  if (!known) return "absent (no documented default)";
  std::string s;
  if (is_text) {
    // Values come from hosts: a message quotes at most 120 bytes of one, cut on a UTF-8
    // character boundary.
    size_t cut = text.size();
    if (cut > 120) {
      cut = 120;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    }
    s = "\"" + text.substr(0, cut) + (cut < text.size() ? "...\"" : "\"");
  } else if (number == static_cast<double>(static_cast<int64_t>(number))) {
    s = std::to_string(static_cast<int64_t>(number));
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", number);
    s = buf;
  }
  if (is_default) s += " (absent: the OS default)";
  return s;
}

EffectiveValue Effective(OsKind os, const OsVersion& version, const ConfigSnapshot& config,
                         const std::string& key) {
  if (key == "ephemeral.ports") {
    if (os == OsKind::kLinux) {
      EffectiveValue r = Effective(os, version, config, "net.ipv4.ip_local_port_range");
      int64_t lo = 0, hi = 0;
      if (!r.known || !ParseRange(r.text, &lo, &hi)) return {};
      return Number(static_cast<double>(hi - lo + 1), r.is_default, r.default_source);
    }
    if (os == OsKind::kWindows) {
      if (version.known && EraOfBuild(version.windows_build()) == WindowsEra::k2003) {
        // Before Vista the range is 1025..MaxUserPort.
        EffectiveValue m = Effective(os, version, config, "Tcpip.MaxUserPort");
        if (!m.known) return {};
        return Number(m.number - 1024, m.is_default, m.default_source);
      }
      return Effective(os, version, config, "Tcpip.DynamicPortRange.TCP.NumberOfPorts");
    }
    return {};
  }
  if (key == "ephemeral.reserved_share") {
    if (os != OsKind::kLinux) return {};
    EffectiveValue r = Effective(os, version, config, "net.ipv4.ip_local_port_range");
    EffectiveValue res = Effective(os, version, config, "net.ipv4.ip_local_reserved_ports");
    int64_t lo = 0, hi = 0;
    if (!r.known || !res.known || !ParseRange(r.text, &lo, &hi)) return {};
    return Number(static_cast<double>(ReservedWithin(res.text, lo, hi)) / (hi - lo + 1),
                  r.is_default && res.is_default);
  }
  if (const ConfigValue* v = Lookup(config, key); v != nullptr && v->present) {
    EffectiveValue e;
    e.known = true;
    e.is_text = v->type == ConfigValue::Type::kString;
    e.number = static_cast<double>(v->int_value);
    e.text = v->string_value;
    return e;
  }
  if (os == OsKind::kWindows && key == "Tcpip.SynAttackProtect" && version.known &&
      EraOfBuild(version.windows_build()) == WindowsEra::k2003) {
    return Number(version.service_pack >= 1 ? 1 : 0, true,
                  std::string(kKb324270) + "; on by default from Windows Server 2003 SP1");
  }
  const DefaultEntry* d = FindDefault(os, version, key);
  if (d == nullptr) return {};
  EffectiveValue e = Number(d->number, true, d->source);
  if (d->text != nullptr) {
    e.is_text = true;
    e.text = d->text;
  }
  return e;
}

bool IsKnownSetting(const std::string& key) {
  return key == "ephemeral.ports" || key == "ephemeral.reserved_share" ||
         key.rfind("Tcpip.", 0) == 0 || key.rfind("net.", 0) == 0;
}

}  // namespace portwatch::policy
