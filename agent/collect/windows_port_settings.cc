// The dynamic and AutoReusePortRange ranges from WMI's MSFT_NetTCPSetting instances, and which
// range outbound connects draw from.
#include "collect/windows_mapping.h"

namespace portwatch::agent::win {

Expected<PortRange> RangeFromStartAndCount(uint32_t start, uint32_t count) {
  if (start == 0 || count == 0 || uint64_t{start} + count - 1 > 65535) {
    return Status::Error("port range start " + std::to_string(start) + " with " +
                         std::to_string(count) + " ports is not within 1-65535");
  }
  return PortRange{static_cast<uint16_t>(start), static_cast<uint16_t>(start + count - 1)};
}

Expected<WmiPortSetting> ChooseWmiPortSetting(const std::vector<WmiPortSetting>& settings,
                                              const std::string& what) {
  const WmiPortSetting* chosen = nullptr;
  for (const WmiPortSetting& s : settings) {
    if (!s.has_dynamic || !RangeFromStartAndCount(s.dynamic_start, s.dynamic_count).ok()) continue;
    if (s.setting_name == "Internet") return s;
    if (chosen == nullptr) chosen = &s;
  }
  if (chosen != nullptr) return *chosen;
  return Status::Error(what + ": none of its " + std::to_string(settings.size()) +
                       " instances has a valid DynamicPortRangeStartPort/NumberOfPorts");
}

PortRange ApplicableTcpRange(const DynamicPorts& ports) {
  return ports.tcp_auto_reuse.empty() ? ports.tcp : ports.tcp_auto_reuse;
}

Expected<EphemeralPorts> EphemeralPortsFor(const DynamicPorts& d) {
  if (d.source.empty()) {
    return Status::Error("the dynamic TCP port range could not be read: " + d.unknown_reason +
                         ". `netsh int ipv4 show dynamicport tcp` shows it on the host");
  }
  EphemeralPorts ep;
  ep.range = ApplicableTcpRange(d);
  ep.auto_reuse = !d.tcp_auto_reuse.empty();
  ep.reserved = d.tcp_excluded;
  ep.source = d.source == "wmi"           ? RangeSource::kWmi
              : d.source == "netsh"       ? RangeSource::kNetsh
              : d.source == "MaxUserPort" ? RangeSource::kRegistry
              : d.source == "assumed"     ? RangeSource::kAssumedDefault
                                          : RangeSource::kUnknown;
  if (ep.source == RangeSource::kAssumedDefault) ep.assumed_reason = d.unknown_reason;
  return ep;
}

}  // namespace portwatch::agent::win
