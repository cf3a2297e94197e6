#include "collect/windows_mapping.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "portwatch/utf16.h"

namespace portwatch::agent::win {
namespace {

uint32_t LoadDword(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// The port sits in the DWORD's first two bytes in network byte order.
uint16_t LoadPort(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

}  // namespace

TcpState MibTcpState(uint32_t state) {
  switch (state) {
    case kMibTcpStateClosed: return TcpState::kClose;
    case kMibTcpStateListen: return TcpState::kListen;
    case kMibTcpStateSynSent: return TcpState::kSynSent;
    case kMibTcpStateSynRcvd: return TcpState::kSynRecv;
    case kMibTcpStateEstab: return TcpState::kEstablished;
    case kMibTcpStateFinWait1: return TcpState::kFinWait1;
    case kMibTcpStateFinWait2: return TcpState::kFinWait2;
    case kMibTcpStateCloseWait: return TcpState::kCloseWait;
    case kMibTcpStateClosing: return TcpState::kClosing;
    case kMibTcpStateLastAck: return TcpState::kLastAck;
    case kMibTcpStateTimeWait: return TcpState::kTimeWait;
    case kMibTcpStateDeleteTcb: return TcpState::kDeleteTcb;
    case kMibTcpStateReserved: return TcpState::kBound;
    default: return TcpState::kUnknown;
  }
}

Family LayoutFamily(TcpRowLayout layout) {
  return layout == TcpRowLayout::kOwnerPid6 || layout == TcpRowLayout::kRow2v6 ? Family::kIpv6
                                                                                 : Family::kIpv4;
}

Status ParseTcpTable(const uint8_t* data, size_t len, TcpRowLayout layout, bool bound_table,
                     std::vector<SocketEntry>* out) {
  if (len < kTableRowsOffset) {
    return Status::Error("TCP table of " + std::to_string(len) +
                         " bytes is too short for its entry count");
  }
  const uint32_t n = LoadDword(data);
  const TcpRowOffsets o = RowOffsets(layout);
  if ((len - kTableRowsOffset) / o.size < n) {
    return Status::Error("TCP table claims " + std::to_string(n) + " rows but holds only " +
                         std::to_string(len) + " bytes; it is truncated");
  }
  const Family family = LayoutFamily(layout);
  const size_t addr_len = family == Family::kIpv6 ? 16 : 4;
  out->reserve(out->size() + n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* row = data + kTableRowsOffset + size_t{i} * o.size;
    SocketEntry e;
    e.family = family;
    e.state = bound_table ? TcpState::kBound : MibTcpState(LoadDword(row + o.state));
    std::memcpy(e.local_addr.data(), row + o.local_addr, addr_len);
    e.local_port = LoadPort(row + o.local_port);
    // Bound and listening sockets have no peer; Windows fills the remote fields with zeros or
    // leftovers, so only connections keep them.
    if (e.state != TcpState::kBound && e.state != TcpState::kListen) {
      std::memcpy(e.remote_addr.data(), row + o.remote_addr, addr_len);
      e.remote_port = LoadPort(row + o.remote_port);
    }
    e.owner_pid = LoadDword(row + o.pid);
    out->push_back(e);
  }
  return Status::Ok();
}

Expected<std::vector<uint8_t>> FetchTable(
    const std::function<uint32_t(std::vector<uint8_t>* buffer, uint32_t* size)>& fetch,
    const std::string& what) {
  std::vector<uint8_t> buf;
  uint32_t size = 0;
  uint32_t rc = kFetchTooSmall;
  for (int attempt = 0; attempt < kTableFetchAttempts; ++attempt) {
    // Leave headroom: connections open between the size query and the fetch.
    buf.assign(size + size / 8 + 4096, 0);
    size = static_cast<uint32_t>(buf.size());
    rc = fetch(&buf, &size);
    if (rc == kFetchOk) {
      buf.resize(std::min<size_t>(size, buf.size()));
      return buf;
    }
    if (rc != kFetchTooSmall) {
      return Status::Error("cannot read the " + what + ": error " + std::to_string(rc));
    }
  }
  return Status::Error("cannot read the " + what + ": it kept growing faster than it could be " +
                       "fetched (" + std::to_string(kTableFetchAttempts) +
                       " attempts); the next scan tries again");
}

// ---- Registry and configuration ------------------------------------------------------------------

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

// ---- Tcpip events --------------------------------------------------------------------------------

std::string TcpipEventQuery() {
  std::string ids;
  for (uint32_t id : kTcpipEventIds) {
    if (!ids.empty()) ids += " or ";
    ids += "EventID=" + std::to_string(id);
  }
  return "*[System[Provider[@Name='Tcpip'] and (" + ids + ")]]";
}

namespace {

// Position just after "<name" when followed by a space, '/' or '>', else npos.
size_t FindElement(std::string_view xml, std::string_view name, size_t from = 0) {
  const std::string open = "<" + std::string(name);
  for (size_t p = xml.find(open, from); p != std::string_view::npos; p = xml.find(open, p + 1)) {
    size_t after = p + open.size();
    if (after < xml.size() && (xml[after] == ' ' || xml[after] == '/' || xml[after] == '>' ||
                               xml[after] == '\t' || xml[after] == '\r' || xml[after] == '\n')) {
      return after;
    }
  }
  return std::string_view::npos;
}

std::optional<std::string_view> ElementText(std::string_view xml, std::string_view name) {
  size_t p = FindElement(xml, name);
  if (p == std::string_view::npos) return std::nullopt;
  size_t gt = xml.find('>', p);
  if (gt == std::string_view::npos || xml[gt - 1] == '/') return std::nullopt;
  size_t close = xml.find("</" + std::string(name) + ">", gt);
  if (close == std::string_view::npos) return std::nullopt;
  return xml.substr(gt + 1, close - gt - 1);
}

std::optional<std::string_view> Attribute(std::string_view xml, std::string_view element,
                                          std::string_view attr) {
  size_t p = FindElement(xml, element);
  if (p == std::string_view::npos) return std::nullopt;
  size_t gt = xml.find('>', p);
  if (gt == std::string_view::npos) return std::nullopt;
  std::string_view tag = xml.substr(p, gt - p);
  const std::string key = std::string(attr) + "=";
  for (size_t a = tag.find(key); a != std::string_view::npos; a = tag.find(key, a + 1)) {
    if (a > 0 && tag[a - 1] != ' ' && tag[a - 1] != '\t' && tag[a - 1] != '\n') continue;
    size_t q = a + key.size();
    if (q >= tag.size() || (tag[q] != '\'' && tag[q] != '"')) return std::nullopt;
    size_t end = tag.find(tag[q], q + 1);
    if (end == std::string_view::npos) return std::nullopt;
    return tag.substr(q + 1, end - q - 1);
  }
  return std::nullopt;
}

bool ParseDigits(std::string_view s, size_t max_digits, int64_t* out) {
  if (s.empty() || s.size() > max_digits) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

Expected<int64_t> ParseSystemTime(std::string_view t) {
  const Status bad = Status::Error("event time '" + std::string(t) +
                                   "' is not of the form 2024-03-01T10:20:30.1234567Z");
  int64_t y, mo, d, h, mi, s;
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
      t[16] != ':' || t.back() != 'Z' || !ParseDigits(t.substr(0, 4), 4, &y) ||
      !ParseDigits(t.substr(5, 2), 2, &mo) || !ParseDigits(t.substr(8, 2), 2, &d) ||
      !ParseDigits(t.substr(11, 2), 2, &h) || !ParseDigits(t.substr(14, 2), 2, &mi) ||
      !ParseDigits(t.substr(17, 2), 2, &s) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
      mi > 59 || s > 60) {
    return bad;
  }
  int64_t ms = 0;
  std::string_view frac = t.substr(19, t.size() - 20);
  if (!frac.empty()) {
    if (frac[0] != '.' || frac.size() < 2) return bad;
    std::string digits(frac.substr(1, 3));
    digits.resize(3, '0');
    int64_t ignored;
    if (!ParseDigits(digits, 3, &ms) || !ParseDigits(frac.substr(1), 9, &ignored)) return bad;
  }
  return ((DaysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000 + ms;
}

Expected<TcpipEvent> ParseTcpipEventXml(std::string_view xml) {
  auto provider = Attribute(xml, "Provider", "Name");
  if (!provider) return Status::Error("event XML has no <Provider Name=...>: not an event");
  if (*provider != "Tcpip") {
    return Status::Error("event from provider '" + std::string(*provider) + "', not Tcpip");
  }
  auto id_text = ElementText(xml, "EventID");
  int64_t id = 0;
  if (!id_text || !ParseDigits(*id_text, 5, &id)) {
    return Status::Error("Tcpip event XML has no numeric <EventID>");
  }
  if (std::find(std::begin(kTcpipEventIds), std::end(kTcpipEventIds), id) ==
      std::end(kTcpipEventIds)) {
    return Status::Error("Tcpip event " + std::to_string(id) + " is not one the agent counts");
  }
  auto time = Attribute(xml, "TimeCreated", "SystemTime");
  if (!time) return Status::Error("Tcpip event " + std::to_string(id) + " has no TimeCreated");
  auto ms = ParseSystemTime(*time);
  if (!ms.ok()) return ms.status();
  return TcpipEvent{static_cast<uint32_t>(id), *ms};
}

void EventState::Apply(const TcpipEvent& e) {
  Count& c = counts[e.id];
  ++c.value;
  c.last_unix_ms = std::max(c.last_unix_ms, e.unix_ms);
}

std::vector<EventCounter> EventState::Counters() const {
  std::vector<EventCounter> out;
  for (uint32_t id : kTcpipEventIds) {
    EventCounter c;
    c.name = "Tcpip." + std::to_string(id);
    auto it = counts.find(id);
    if (it != counts.end()) {
      c.value = it->second.value;
      c.last_unix_ms = it->second.last_unix_ms;
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(),
            [](const EventCounter& a, const EventCounter& b) { return a.name < b.name; });
  return out;
}

namespace {
constexpr int kEventStateVersion = 1;
}

std::string SerializeEventState(const EventState& state) {
  nlohmann::json j;
  j["version"] = kEventStateVersion;
  j["bookmark"] = state.bookmark_xml;
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [id, c] : state.counts) {
    counts[std::to_string(id)] = {{"count", c.value}, {"last_unix_ms", c.last_unix_ms}};
  }
  j["counts"] = counts;
  return j.dump(1) + "\n";
}

Expected<EventState> ParseEventState(const std::string& text) {
  const Status bad = Status::Error(
      "event state file is not one this agent wrote (or is damaged); delete it to start "
      "counting afresh from the oldest event in the System log");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad;
  auto version = j.find("version");
  auto bookmark = j.find("bookmark");
  auto counts = j.find("counts");
  if (version == j.end() || !version->is_number_integer() ||
      version->get<int>() != kEventStateVersion || bookmark == j.end() ||
      !bookmark->is_string() || counts == j.end() || !counts->is_object()) {
    return bad;
  }
  EventState s;
  s.bookmark_xml = bookmark->get<std::string>();
  for (auto it = counts->begin(); it != counts->end(); ++it) {
    int64_t id = 0;
    if (!ParseDigits(it.key(), 5, &id) || !it->is_object()) return bad;
    auto count = it->find("count");
    auto last = it->find("last_unix_ms");
    if (count == it->end() || !count->is_number_unsigned() || last == it->end() ||
        !last->is_number_integer()) {
      return bad;
    }
    s.counts[static_cast<uint32_t>(id)] = {count->get<uint64_t>(), last->get<int64_t>()};
  }
  return s;
}

// ---- Processes ---------------------------------------------------------------------------------

std::string ImageBaseName(const std::string& path) {
  size_t slash = path.find_last_of("\\/");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

ProcessNameCache::ProcessNameCache(StartTimeFn start_time, ImagePathFn image_path)
    : start_time_(std::move(start_time)), image_path_(std::move(image_path)) {}

void ProcessNameCache::Refresh(const std::vector<uint32_t>& pids) {
  // The System process (PID 4) owns kernel-mode sockets (http.sys, SMB); it has no image path.
  constexpr uint32_t kSystemPid = 4;
  std::unordered_set<uint32_t> seen;
  for (uint32_t pid : pids) {
    if (pid == 0 || !seen.insert(pid).second) continue;
    uint64_t start = 0;
    if (!start_time_(pid, &start)) {
      // Gone or not openable: nothing to key a cache entry on; try again next scan.
      entries_.erase(pid);
      if (pid == kSystemPid) entries_[pid] = {0, {pid, "System", ""}};
      continue;
    }
    auto it = entries_.find(pid);
    if (it != entries_.end() && it->second.start_time == start) continue;
    Entry e;
    e.start_time = start;
    e.info.pid = pid;
    ++path_lookups_;
    if (image_path_(pid, &e.info.program)) {
      e.info.name = ImageBaseName(e.info.program);
    } else if (pid == kSystemPid) {
      e.info.name = "System";
    }
    entries_[pid] = std::move(e);
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = seen.count(it->first) ? std::next(it) : entries_.erase(it);
  }
}

const ProcessInfo* ProcessNameCache::Info(uint32_t pid) const {
  auto it = entries_.find(pid);
  return it == entries_.end() ? nullptr : &it->second.info;
}

std::string QuoteWindowsArgument(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n\v\"") == std::string::npos) return arg;
  std::string out = "\"";
  size_t backslashes = 0;
  for (char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    // Backslashes are literal except before a quote, where each must be doubled.
    out.append(c == '"' ? backslashes * 2 + 1 : backslashes, '\\');
    backslashes = 0;
    out.push_back(c);
  }
  out.append(backslashes * 2, '\\');  // before the closing quote
  out.push_back('"');
  return out;
}

}  // namespace portwatch::agent::win
