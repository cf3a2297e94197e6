#include "format.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/wire.h"
#include "src/ui/text_format.h"

namespace portwatch::ctl {
namespace {

using text::CleanText;

}  // namespace

const char* StateName(v1::HostState s) {
  switch (s) {
    case v1::HOST_STATE_OK:
      return "ok";
    case v1::HOST_STATE_DRIFTING:
      return "drifting";
    case v1::HOST_STATE_CRITICAL:
      return "critical";
    case v1::HOST_STATE_EXHAUSTED:
      return "exhausted";
    case v1::HOST_STATE_SILENT:
      return "silent";
    default:
      return "unknown";
  }
}

namespace {

// The state padded to `width`, coloured on a terminal (escape codes outside the padding).
std::string State(v1::HostState s, const FormatOptions& o, int width) {
  std::string name = StateName(s);
  std::string pad(name.size() < static_cast<size_t>(width) ? width - name.size() : 0, ' ');
  if (!o.colour) return name + pad;
  const char* code = s == v1::HOST_STATE_OK         ? "32"
                     : s == v1::HOST_STATE_DRIFTING ? "33"
                     : s == v1::HOST_STATE_SILENT   ? "90"
                                                    : "1;31";
  return std::string("\x1b[") + code + "m" + name + "\x1b[0m" + pad;
}

std::string Printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Sized exactly, so a long (already bounded) name is never cut mid-character.
std::string Printf(const char* fmt, ...) {
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

bool HasEta(const v1::Forecast& f) {
  return f.valid() && f.finite() && std::isfinite(f.eta_seconds()) && f.eta_seconds() >= 0;
}

std::string Eta(const v1::Forecast& f) {
  return HasEta(f) ? "~" + text::Span(f.eta_seconds()) : "-";
}

std::string Growth(const v1::Forecast& f) {
  return f.valid() ? Printf("%+.1f%%/h", f.growth_pct_per_hour()) : "-";
}

// Pads by characters, not bytes, so UTF-8 names keep columns aligned.
std::string Pad(const std::string& s, size_t width) {
  size_t chars = 0;
  for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
  return chars >= width ? s : s + std::string(width - chars, ' ');
}

// Worst first: soonest exhaustion, then fullest, then most ports.
bool WorseSeries(const v1::SeriesInfo& a, const v1::SeriesInfo& b) {
  const bool ea = HasEta(a.forecast()), eb = HasEta(b.forecast());
  if (ea != eb) return ea;
  if (ea && a.forecast().eta_seconds() != b.forecast().eta_seconds()) {
    return a.forecast().eta_seconds() < b.forecast().eta_seconds();
  }
  if (a.utilization() != b.utilization()) return a.utilization() > b.utilization();
  return a.ports() > b.ports();
}

// The program behind each destination of the latest report (the one holding the most live
// connections toward it, as the agent saw the socket owners), keyed as the series are.
std::map<std::string, std::string> DestinationOwners(const v1::Report& r) {
  std::map<std::string, std::string> owners;
  for (const v1::DestinationUsage& d : r.top_destinations()) {
    if (d.top_process().empty()) continue;
    Endpoint e;
    if (!EndpointFromProto(d.remote(), "destination", &e).ok()) continue;
    owners[e.ToString()] = CleanText(d.top_process(), 40) +
                           Printf(" (pid %u, %u live)", d.top_process_pid(),
                                  d.top_process_connections());
  }
  return owners;
}

// `owners`, when given and not empty, adds an OWNER column.
void Series(std::string* out, const char* title,
            const google::protobuf::RepeatedPtrField<v1::SeriesInfo>& in, const FormatOptions& o,
            const std::map<std::string, std::string>* owners = nullptr) {
  if (owners != nullptr && owners->empty()) owners = nullptr;
  std::vector<const v1::SeriesInfo*> rows;
  size_t dropped = 0;
  for (const v1::SeriesInfo& x : in) {
    // A one-port series gone from the latest report is noise (typically the ephemeral port of
    // an inbound connection this host closed first), not outbound pressure.
    if (!o.all && x.ports() <= 1 && !x.present()) {
      ++dropped;
      continue;
    }
    rows.push_back(&x);
  }
  if (rows.empty() && dropped == 0) return;
  std::stable_sort(rows.begin(), rows.end(), [](const v1::SeriesInfo* a, const v1::SeriesInfo* b) {
    return WorseSeries(*a, *b);
  });
  *out += Printf("\n%-44s %7s %9s %7s %9s %9s%s\n", title, "PORTS", "TIME_WAIT", "USED", "GROWTH",
                 "FULL IN", owners != nullptr ? "  OWNER" : "");
  const size_t cap = o.all ? rows.size() : std::min<size_t>(rows.size(), kSeriesCap);
  for (size_t i = 0; i < cap; ++i) {
    const v1::SeriesInfo& x = *rows[i];
    std::string owner;
    if (owners != nullptr) {
      const auto it = owners->find(x.key());
      if (it != owners->end()) owner = "  " + it->second;
    }
    *out += Pad(CleanText(x.key(), 120), 44) +
            Printf(" %7u %9u %6.1f%% %9s %9s%s%s\n", x.ports(), x.time_wait(),
                   100 * x.utilization(), Growth(x.forecast()).c_str(), Eta(x.forecast()).c_str(),
                   owner.c_str(), x.present() ? "" : "  (not in latest report)");
  }
  if (cap < rows.size() || dropped > 0) {
    std::string more;
    if (cap < rows.size()) more = std::to_string(rows.size() - cap) + " more";
    if (dropped > 0) {
      more += (more.empty() ? "" : ", ") + std::to_string(dropped) +
              " one-port entries not in the latest report hidden";
    }
    *out += "(" + more + "; --all shows them)\n";
  }
}

// Server-side TIME_WAIT apart from the outbound series: it sits on the listener's port, so it is
// no pressure on the ephemeral range however large it grows.
void Inbound(std::string* out, const v1::SocketSummary& s, const FormatOptions& o) {
  if (s.inbound_time_wait() == 0) return;
  std::string parts;
  uint64_t listed = 0;
  int shown = 0;
  for (const v1::InboundPortUsage& u : s.inbound()) {
    uint32_t tw = 0;
    for (const v1::StateTally& t : u.states()) {
      if (t.state() == v1::TCP_STATE_TIME_WAIT) tw += t.count();
    }
    if (tw == 0) continue;
    if (!o.all && shown == kInboundCap) break;
    listed += tw;
    ++shown;
    parts += Printf("%s%u on :%u", parts.empty() ? "" : ", ", tw, u.port());
  }
  if (listed < s.inbound_time_wait()) {
    parts += Printf("%s%llu on other listeners", parts.empty() ? "" : ", ",
                    static_cast<unsigned long long>(s.inbound_time_wait() - listed));
  }
  *out += "inbound TIME_WAIT: " + parts +
          " (this host closed accepted connections first; holds no ephemeral port)\n";
}

}  // namespace

std::string When(int64_t unix_ms, const FormatOptions& o) {
  if (unix_ms <= 0) return "never";
  const time_t t = static_cast<time_t>(unix_ms / 1000), now = o.now_unix_ms / 1000;
  std::tm tm{}, tn{};
  if (o.utc) {
    gmtime_r(&t, &tm);
    gmtime_r(&now, &tn);
  } else {
    localtime_r(&t, &tm);
    localtime_r(&now, &tn);
  }
  char buf[32];
  const bool same_day = tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday;
  std::strftime(buf, sizeof buf, same_day ? "%H:%M" : "%Y-%m-%d %H:%M", &tm);
  return std::string(buf) + (o.utc ? " UTC" : "") + ", " + text::Relative(unix_ms, o.now_unix_ms);
}

std::string FormatHosts(const v1::ListHostsResponse& r, const FormatOptions& o) {
  std::string out = Printf("%-28s %-10s %6s %13s %9s %9s  %s\n", "HOST", "STATE", "USED", "PORTS",
                           "GROWTH", "FULL IN", "DRIVER / REASON");
  const int cap = o.all ? r.hosts_size() : std::min(r.hosts_size(), kHostsCap);
  for (int i = 0; i < cap; ++i) {
    const v1::HostInfo& h = r.hosts(i);
    std::string driver = CleanText(h.driver_process(), 80);
    if (!h.driver_destination().empty()) {
      driver += (driver.empty() ? "" : " -> ") + CleanText(h.driver_destination(), 80);
    }
    if (driver.empty() && !h.churn_process().empty()) {
      driver = CleanText(h.churn_process(), 80) + (h.churn_process_inferred() ? " (inferred)" : "");
    }
    if (driver.empty()) driver = CleanText(h.reason(), 120);
    const std::string ports = Printf("%u/%u", h.ports_in_use(), h.ports_usable());
    out += Pad(CleanText(h.host(), 64), 28) + " " + State(h.state(), o, 10) +
           Printf(" %5.1f%% %13s %9s %9s  ", 100 * h.utilization(), ports.c_str(),
                  Growth(h.forecast()).c_str(), Eta(h.forecast()).c_str()) +
           driver + "\n";
  }
  out += Printf("(%d of %u hosts", cap, r.total());
  if (cap < r.hosts_size()) out += "; --all shows all " + std::to_string(r.hosts_size());
  out += ")\n";
  return out;
}

std::string FormatHost(const v1::HostDetail& d, const FormatOptions& o) {
  const v1::HostInfo& h = d.info();
  std::string out = CleanText(h.explanation(), 1024) + "\n";
  out += "state " + State(h.state(), o, 0) + " since " + When(h.state_since_unix_ms(), o);
  if (!h.reason().empty()) out += " (" + CleanText(h.reason(), 200) + ")";
  out += "; last report " + When(h.last_seen_unix_ms(), o) + "\n";
  out += Printf("%u of %u usable ephemeral ports held (%.1f%%), growth %s, full in %s",
                h.ports_in_use(), h.ports_usable(), 100 * h.utilization(),
                Growth(h.forecast()).c_str(), Eta(h.forecast()).c_str());
  if (HasEta(h.forecast())) {
    out +=
        " (at " +
        When(h.last_seen_unix_ms() + static_cast<int64_t>(h.forecast().eta_seconds() * 1000), o) +
        ")";
  }
  out += "\n";
  if (!h.ephemeral_range_source().empty() && h.ephemeral_range_source() != "unknown") {
    out += "range from " + CleanText(h.ephemeral_range_source(), 40);
    if (h.ephemeral_range_auto_reuse()) out += ", AutoReusePortRange applies";
    if (h.ephemeral_range_assumed()) {
      out += " (ASSUMED: the OS version's documented default; nothing on the host answered)";
    }
    out += "\n";
  }
  if (!h.churn_explanation().empty()) {
    out += Printf("churn: steady %.1f%% of %s (TIME_WAIT %.0f s, %s); ",
                  100 * h.steady_utilization(),
                  h.churn_key().empty() ? "ports" : CleanText(h.churn_key(), 80).c_str(),
                  h.time_wait_seconds(), CleanText(h.time_wait_source(), 80).c_str()) +
           CleanText(h.churn_explanation(), 400) + "\n";
  }
  if (h.trend_page() || (h.short_window_eta_seconds() > 0 && h.long_window_eta_seconds() > 0)) {
    // The page's two windows, when both forecast: both must do so within the hour to page.
    auto window = [](double s) {
      return s < 0 ? std::string("never") : Printf("%.0f min", s / 60);
    };
    out += "page windows: short full in " + window(h.short_window_eta_seconds()) +
           ", long full in " + window(h.long_window_eta_seconds()) +
           (h.trend_page() ? " (both within the hour: paging)\n" : "\n");
  }
  Inbound(&out, d.last_report().sockets(), o);
  if (h.clock_corrections() > 0) {
    out += Printf("agent clock: %+.0f s from receipt time, %llu reports re-timed\n",
                  h.clock_skew_seconds(), static_cast<unsigned long long>(h.clock_corrections()));
  }
  if (!h.os_version().empty()) {
    out += "os " + CleanText(h.os_version(), 120) + ", agent " + CleanText(h.agent_version(), 60) +
           "\n";
  }
  const std::map<std::string, std::string> owners = DestinationOwners(d.last_report());
  Series(&out, "DESTINATION", d.destinations(), o, &owners);
  Series(&out, "PROCESS", d.processes(), o);
  if (d.config().values_size() > 0) {
    out += "\nSETTINGS\n";
    for (const v1::ConfigValue& v : d.config().values()) {
      std::string val = v.value_case() == v1::ConfigValue::kIntValue ? std::to_string(v.int_value())
                        : v.value_case() == v1::ConfigValue::kStringValue
                            ? CleanText(v.string_value(), 200)
                            : "(absent: OS default)";
      out += "  " + Pad(CleanText(v.key(), 80), 40) + " " + val + "\n";
    }
  }
  return out;
}

std::string FormatAggregates(const char* title, const v1::FleetAggregates& a,
                             const FormatOptions& o) {
  std::string out = Printf("%-44s %6s %8s %9s %10s %11s\n", title, "HOSTS", "GROWING", "PORTS",
                           "TIME_WAIT", "GROWTH/H");
  const int cap = o.all ? a.items_size() : std::min(a.items_size(), kHostsCap);
  for (int i = 0; i < cap; ++i) {
    const v1::FleetAggregate& x = a.items(i);
    out += Pad(CleanText(x.key(), 120), 44) +
           Printf(" %6u %8u %9llu %10llu %+11.1f\n", x.hosts(), x.growing_hosts(),
                  static_cast<unsigned long long>(x.ports()),
                  static_cast<unsigned long long>(x.time_wait()), x.growth_per_hour());
  }
  if (cap < a.items_size()) {
    out += "(" + std::to_string(a.items_size() - cap) + " more; --all shows them)\n";
  }
  return out;
}

int TopExitStatus(const v1::ListHostsResponse& r) {
  for (const v1::HostInfo& h : r.hosts()) {
    if (h.state() == v1::HOST_STATE_DRIFTING || h.state() == v1::HOST_STATE_CRITICAL ||
        h.state() == v1::HOST_STATE_EXHAUSTED) {
      return 1;
    }
  }
  return 0;
}

}  // namespace portwatch::ctl
