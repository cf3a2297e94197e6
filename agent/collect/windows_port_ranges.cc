#include "collect/windows_port_ranges.h"

#include "collect/tcp_config.h"

#include <algorithm>
#include <sstream>

namespace portwatch::agent::win {

Expected<PortRange> ParseNetshDynamicPort(const std::string& text) {
  std::vector<uint32_t> numbers;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && numbers.size() < 2) {
    const size_t colon = line.rfind(':');
    if (colon == std::string::npos) continue;
    uint16_t v = 0;
    if (ParsePortNumber(TrimSpace(line.substr(colon + 1)), &v)) numbers.push_back(v);
  }
  if (numbers.size() < 2) {
    return Status::Error("netsh dynamicport output has no start port and number of ports");
  }
  const uint32_t start = numbers[0], count = numbers[1];
  if (start == 0 || count == 0 || start + count - 1 > 65535) {
    return Status::Error("netsh dynamicport output gives start " + std::to_string(start) +
                         " and " + std::to_string(count) + " ports, outside 1-65535");
  }
  return PortRange{static_cast<uint16_t>(start), static_cast<uint16_t>(start + count - 1)};
}

Expected<std::vector<PortRange>> ParseNetshExcludedPortRanges(const std::string& text,
                                                              const PortRange& within) {
  std::vector<PortRange> ranges;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string a, b;
    uint16_t low = 0, high = 0;
    if (!(words >> a >> b) || !ParsePortNumber(a, &low) || !ParsePortNumber(b, &high)) continue;
    if (low == 0 || high < low) {
      return Status::Error("netsh excludedportrange line '" + TrimSpace(line) +
                           "' is not a port range");
    }
    const uint32_t lo = std::max<uint32_t>(low, within.low);
    const uint32_t hi = std::min<uint32_t>(high, within.high);
    if (within.empty() || lo > hi) continue;
    ranges.push_back({static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const PortRange& x, const PortRange& y) { return x.low < y.low; });
  std::vector<PortRange> merged;
  for (const PortRange& r : ranges) {
    if (!merged.empty() && uint32_t{r.low} <= uint32_t{merged.back().high} + 1) {
      merged.back().high = std::max(merged.back().high, r.high);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

PortRange DocumentedDefaultDynamicRange(uint32_t os_major) {
  return os_major >= 6 ? PortRange{49152, 65535} : PortRange{1025, 5000};
}

}  // namespace portwatch::agent::win
