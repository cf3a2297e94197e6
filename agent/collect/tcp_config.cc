#include "collect/tcp_config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace portwatch::agent {

bool ParsePortNumber(const std::string& s, uint16_t* out) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  unsigned long v = std::strtoul(s.c_str(), nullptr, 10);
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

std::string TrimSpace(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

uint32_t EphemeralPorts::usable() const {
  uint32_t reserved_n = 0;
  for (const PortRange& r : reserved) reserved_n += r.size();
  return range.size() >= reserved_n ? range.size() - reserved_n : 0;
}

Expected<PortRange> ParsePortRangeText(const std::string& text) {
  std::string t = TrimSpace(text);
  size_t sep = t.find_first_of(" \t");
  if (sep == std::string::npos) {
    return Status::Error("ip_local_port_range '" + t + "' is not two numbers");
  }
  PortRange r;
  if (!ParsePortNumber(TrimSpace(t.substr(0, sep)), &r.low) ||
      !ParsePortNumber(TrimSpace(t.substr(sep)), &r.high) || r.low == 0 || r.low > r.high) {
    return Status::Error("ip_local_port_range '" + t + "' is not a valid port range");
  }
  return r;
}

Expected<std::vector<PortRange>> ParseReservedPortsText(const std::string& text,
                                                        const PortRange& within) {
  std::vector<PortRange> out;
  std::string t = TrimSpace(text);
  size_t pos = 0;
  while (!t.empty() && pos <= t.size()) {
    size_t comma = t.find(',', pos);
    std::string item =
        TrimSpace(t.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    PortRange r;
    size_t dash = item.find('-');
    bool ok = dash == std::string::npos
                  ? ParsePortNumber(item, &r.low) && (r.high = r.low, true)
                  : ParsePortNumber(TrimSpace(item.substr(0, dash)), &r.low) &&
                        ParsePortNumber(TrimSpace(item.substr(dash + 1)), &r.high) &&
                        r.low <= r.high;
    if (!ok) return Status::Error("ip_local_reserved_ports item '" + item + "' is not a port or range");
    r.low = std::max(r.low, within.low);
    r.high = std::min(r.high, within.high);
    if (r.low <= r.high && !within.empty()) out.push_back(r);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end(), [](const PortRange& a, const PortRange& b) {
    return a.low < b.low;
  });
  std::vector<PortRange> merged;
  for (const PortRange& r : out) {
    if (!merged.empty() && uint32_t{r.low} <= uint32_t{merged.back().high} + 1) {
      merged.back().high = std::max(merged.back().high, r.high);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

}  // namespace portwatch::agent
