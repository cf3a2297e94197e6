// The effective value of a setting: what the host sent, or the OS-version default when the value
// is absent. One table per Windows era (Server 2003, 2008 / 2008 R2, 2012 and later) and per
// Linux kernel range, each default with the documentation it comes from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "portwatch/model.h"

namespace portwatch::policy {

/// A parsed OS version: Windows major, minor, build; Linux kernel major, minor, patch.
struct OsVersion {
  bool known = false;
  std::vector<int64_t> parts;  ///< Windows: {major, minor, build}; Linux: {major, minor, patch}
  int service_pack = 0;        ///< Windows: "Service Pack N" in the version text, else 0
  int64_t windows_build() const { return parts.size() > 2 ? parts[2] : 0; }
};

/// Parses what the agents send ("Windows 5.2.3790 Service Pack 2", "Linux 6.1.0-18-amd64").
OsVersion ParseOsVersion(OsKind os, const std::string& text);
/// Parses a selector bound: a Windows build ("7601") or a kernel release ("4.19"); nullopt when
/// it is not a dotted number.
std::optional<std::vector<int64_t>> ParseVersionBound(const std::string& text);
/// Compares the version a selector sees: the build number on Windows, the kernel triple on Linux.
/// Returns <0, 0, >0; missing trailing parts count as 0.
int CompareVersion(OsKind os, const OsVersion& version, const std::vector<int64_t>& bound);

/// The Windows era a build belongs to, naming its defaults table.
enum class WindowsEra : uint8_t { kUnknown, k2003, k2008, k2012 };
WindowsEra EraOfBuild(int64_t build);

/// A setting as the audit sees it.
struct EffectiveValue {
  bool known = false;       ///< false: absent and no default is documented for this OS version
  bool is_default = false;  ///< absent on the host; `number`/`text` is the OS default
  bool is_text = false;
  double number = 0;           ///< numeric settings
  std::string text;            ///< string settings (ip_local_port_range "32768 60999")
  std::string default_source;  ///< where the default is documented (when is_default)
  /// "240 (default on Windows Server 2003)" / "32768 60999" for messages.
  std::string Describe() const;
};

/// The effective value of `key` on a host. Besides the keys agents send it knows two derived
/// ones: `ephemeral.ports` (the size of the dynamic / local port range) and
/// `ephemeral.reserved_share` (0..1; Linux: the share of the range in ip_local_reserved_ports).
EffectiveValue Effective(OsKind os, const OsVersion& version, const ConfigSnapshot& config,
                         const std::string& key);

/// The keys Effective knows a default or derivation for (for validating policies).
bool IsKnownSetting(const std::string& key);

}  // namespace portwatch::policy
