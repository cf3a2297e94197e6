// Tcpip\Parameters registry values as typed settings, and the config snapshot built from them
// and the port ranges.
#include "collect/windows_mapping.h"
#include "collect/windows_bytes.h"

#include <algorithm>

#include "portwatch/utf16.h"

namespace portwatch::agent::win {

const char* const kTcpipParameterNames[10] = {
    "TcpTimedWaitDelay",   "MaxUserPort",       "TcpNumConnections",
    "MaxFreeTcbs",         "SynAttackProtect",  "TcpMaxHalfOpen",
    "TcpMaxHalfOpenRetried", "TcpMaxConnectResponseRetransmissions",
    "EnableConnectionRateLimiting", "StrictTimeWaitSeqCheck"};

namespace {

std::string RegTypeName(uint32_t type) {
  switch (type) {
    case kRegSz: return "REG_SZ";
    case kRegExpandSz: return "REG_EXPAND_SZ";
    case kRegBinary: return "REG_BINARY";
    case kRegDword: return "REG_DWORD";
    case kRegMultiSz: return "REG_MULTI_SZ";
    case kRegQword: return "REG_QWORD";
    default: return "registry type " + std::to_string(type);
  }
}

// REG_SZ data is UTF-16LE, usually with a terminating NUL (not guaranteed).
std::string RegString(const std::vector<uint8_t>& data) {
  std::u16string s;
  for (size_t i = 0; i + 1 < data.size(); i += 2) {
    char16_t c = static_cast<char16_t>(data[i] | (data[i + 1] << 8));
    if (c == 0) break;
    s.push_back(c);
  }
  return Utf16ToUtf8(s);
}

ConfigValue IntValue(const std::string& key, int64_t v) {
  ConfigValue c;
  c.key = key;
  c.present = true;
  c.type = ConfigValue::Type::kInt;
  c.int_value = v;
  return c;
}

ConfigValue StringValue(const std::string& key, const std::string& v) {
  ConfigValue c;
  c.key = key;
  c.present = true;
  c.type = ConfigValue::Type::kString;
  c.string_value = v;
  return c;
}

}  // namespace

ConfigValue MapRegistryValue(const std::string& key, const RegistryRead& read) {
  if (!read.found) {
    ConfigValue c;
    c.key = key;
    return c;  // absent: the OS default applies
  }
  if (read.type == kRegDword && read.data.size() == 4) {
    return IntValue(key, LoadDword(read.data.data()));
  }
  if (read.type == kRegQword && read.data.size() == 8) {
    uint64_t v = uint64_t{LoadDword(read.data.data())} |
                 (uint64_t{LoadDword(read.data.data() + 4)} << 32);
    if (v <= static_cast<uint64_t>(INT64_MAX)) return IntValue(key, static_cast<int64_t>(v));
  }
  if (read.type == kRegSz || read.type == kRegExpandSz) {
    return StringValue(key, RegTypeName(read.type) + ": " + RegString(read.data));
  }
  return StringValue(key,
                     RegTypeName(read.type) + " of " + std::to_string(read.data.size()) + " bytes");
}

std::string FormatWindowsVersion(uint32_t major, uint32_t minor, uint32_t build,
                                 const std::string& service_pack) {
  std::string v = "Windows " + std::to_string(major) + "." + std::to_string(minor) + "." +
                  std::to_string(build);
  if (!service_pack.empty()) v += " " + service_pack;
  return v;
}

Expected<PortRange> MaxUserPortRange(const ConfigValue& max_user_port) {
  constexpr int64_t kDefault = 5000, kMin = 5000, kMax = 65534;
  if (!max_user_port.present) return PortRange{1025, static_cast<uint16_t>(kDefault)};
  if (max_user_port.type != ConfigValue::Type::kInt || max_user_port.int_value < kMin ||
      max_user_port.int_value > kMax) {
    return Status::Error("MaxUserPort (" +
                         (max_user_port.type == ConfigValue::Type::kInt
                              ? std::to_string(max_user_port.int_value)
                              : max_user_port.string_value) +
                         ") is outside its documented range 5000-65534, so the range Windows "
                         "uses is not known; set it to a DWORD within that range");
  }
  return PortRange{1025, static_cast<uint16_t>(max_user_port.int_value)};
}

ConfigSnapshot BuildWindowsConfig(const std::string& os_version,
                                  const std::vector<ConfigValue>& parameters,
                                  const DynamicPorts& ports) {
  ConfigSnapshot s;
  s.os_version = os_version;
  s.values = parameters;
  const std::string dyn = "Tcpip.DynamicPortRange.";
  if (ports.source.empty()) {
    s.values.push_back(StringValue(dyn + "Source", "unavailable: " + ports.unknown_reason));
  } else {
    s.values.push_back(StringValue(dyn + "Source", ports.source));
    if (ports.source == "assumed") {
      s.values.push_back(StringValue(dyn + "AssumedBecause", ports.unknown_reason));
    }
    uint32_t excluded = 0;
    for (const PortRange& r : ports.tcp_excluded) excluded += r.size();
    if (!ports.tcp_excluded.empty()) {
      s.values.push_back(IntValue(dyn + "TCP.ExcludedPorts", excluded));
    }
    auto add_range = [&](const std::string& prefix, const PortRange& r) {
      if (r.empty()) return;
      s.values.push_back(IntValue(prefix + "StartPort", r.low));
      s.values.push_back(IntValue(prefix + "NumberOfPorts", r.size()));
    };
    add_range(dyn + "TCP.", ports.tcp);
    add_range(dyn + "UDP.", ports.udp);
    // 0 ports is a real setting (auto-reuse disabled), not an absent one.
    if (ports.source == "wmi" && ports.tcp_auto_reuse.empty()) {
      s.values.push_back(IntValue("Tcpip.AutoReusePortRange.TCP.NumberOfPorts", 0));
    } else {
      add_range("Tcpip.AutoReusePortRange.TCP.", ports.tcp_auto_reuse);
    }
  }
  std::sort(s.values.begin(), s.values.end(),
            [](const ConfigValue& a, const ConfigValue& b) { return a.key < b.key; });
  return s;
}

}  // namespace portwatch::agent::win
