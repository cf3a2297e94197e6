// Tcpip events of the System log: the query, the fields read from each event's XML, and the
// counts they add up to.
#include "collect/windows_mapping.h"
#include "collect/windows_bytes.h"

#include <algorithm>

namespace portwatch::agent::win {

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

}  // namespace portwatch::agent::win
