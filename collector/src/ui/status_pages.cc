#include "src/ui/status_pages.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "src/ui/text_format.h"

namespace portwatch::collector::ui {
namespace {

using analysis::HostState;
using text::Html;

constexpr int kStates = analysis::kHostStateCount;
// Severity order for the counts bar: worst first.
constexpr HostState kStateOrder[] = {HostState::kExhausted, HostState::kCritical,
                                     HostState::kDrifting, HostState::kSilent, HostState::kOk};

std::string StateName(HostState s) { return std::string(analysis::HostStateName(s)); }

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string Pct(double ratio) { return Fmt("%.1f%%", 100 * ratio); }

std::string Growth(const analysis::SeriesFit& fit) {
  if (!fit.trend.valid || !std::isfinite(fit.trend.pct_per_hour)) return "-";
  return Fmt("%+.1f%%/h", fit.trend.pct_per_hour);
}

bool HasEta(const analysis::SeriesFit& fit) {
  return fit.trend.valid && fit.forecast.finite && std::isfinite(fit.forecast.eta_s);
}

// Every time on the pages reads the same whatever the browser's zone: the UTC date-time, then
// its distance from the page's clock ("2026-12-01 14:02 UTC (3 h ago)", "... (in 9 h)"), with
// the ISO 8601 form in the datetime attribute for tools.
std::string When(int64_t unix_ms, int64_t now_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char iso[32];
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return "<time datetime=\"" + std::string(iso) + "\">" + text::DateTime(unix_ms, true) +
         " UTC</time> <span class=rel>(" + text::Relative(unix_ms, now_ms) + ")</span>";
}

// ETA from the sample the forecast was made on, as a date-time and relative to now.
std::string Eta(const analysis::SeriesFit& fit, int64_t sample_ms, int64_t now_ms) {
  if (!HasEta(fit)) return "-";
  return When(sample_ms + static_cast<int64_t>(fit.forecast.eta_s * 1000), now_ms);
}

std::string Seen(int64_t unix_ms, int64_t now_ms) {
  return unix_ms <= 0 ? "never" : When(unix_ms, now_ms);
}

std::string Driver(const analysis::HostStatus& s) {
  std::string d = Html(s.driver_process);
  if (!s.driver_destination.empty()) {
    d += (d.empty() ? "" : " &rarr; ") + Html(s.driver_destination);
  }
  return d.empty() ? "<span class=muted>" + Html(s.reason) + "</span>" : d;
}

const char kStyle[] = R"css(
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em 2em;color:#1b1f24;background:#fbfbfc}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .4em}
a{color:#0b57d0;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;background:#fff}th,td{padding:.25em .7em;text-align:left;
border-bottom:1px solid #e4e6ea;vertical-align:top}th{background:#f1f3f5;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}.muted,.rel{color:#687078}
.st{display:inline-block;padding:0 .5em;border-radius:.6em;font-weight:600;color:#fff}
.st-ok{background:#2e7d32}.st-drifting{background:#d97706}.st-critical{background:#c2410c}
.st-exhausted{background:#b91c1c}.st-silent{background:#6b7280}.sev-critical{background:#b91c1c}
.sev-warning{background:#d97706}.sev-info{background:#6b7280}
.counts a{margin-right:1em}.counts .st{margin-right:.3em}
form{margin:.6em 0}input,select,button{font:inherit}.pager{margin:.6em 0}
.cols{display:flex;gap:2em;flex-wrap:wrap}svg{background:#fff;border:1px solid #e4e6ea}
.default{color:#687078;font-style:italic}#explanation{font-size:1.05em}
)css";

std::string Head(const std::string& title) {
  return "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>" + title +
         "</title><meta name=viewport content=\"width=device-width\"><style>" + kStyle +
         "</style></head><body>";
}

std::string Badge(HostState s) {
  const std::string n = StateName(s);
  return "<span class=\"st st-" + n + "\">" + n + "</span>";
}

std::string FleetLink(const FleetQuery& q, size_t page) {
  std::string url = "/?page=" + std::to_string(page) + "&amp;per=" + std::to_string(q.per_page);
  if (!q.state.empty()) url += "&amp;state=" + text::UrlComponent(q.state);
  if (!q.name.empty()) url += "&amp;q=" + text::UrlComponent(q.name);
  return url;
}

void AggregateTable(std::string* out, const char* id, const char* title,
                    const std::vector<analysis::FleetAggregate>& items) {
  *out += "<div><h2>" + std::string(title) + "</h2><table id=" + id + "><tr><th>" +
          (std::string(id) == "top-destinations" ? "Destination" : "Process") +
          "</th><th>Hosts</th><th>Growing on</th><th>Ports</th><th>TIME_WAIT</th>"
          "<th>Growth</th></tr>";
  for (const auto& a : items) {
    *out += "<tr><td>" + Html(a.key) + "</td><td class=n>" + std::to_string(a.hosts) +
            "</td><td class=n>" + std::to_string(a.growing_hosts) + "</td><td class=n>" +
            std::to_string(a.ports) + "</td><td class=n>" + std::to_string(a.time_wait) +
            "</td><td class=n>" + Fmt("%+.1f/h", a.growth_per_hour()) + "</td></tr>";
  }
  if (items.empty()) *out += "<tr><td colspan=6 class=muted>none reported</td></tr>";
  *out += "</table></div>";
}

// --- SVG charts -----------------------------------------------------------------------------

struct Chart {
  double t0, t1, v1;  // time range (ms) and value ceiling
  static constexpr double kW = 760, kH = 220, kL = 56, kR = 12, kT = 10, kB = 26;
  double X(double t) const { return kL + (t - t0) / std::max(1.0, t1 - t0) * (kW - kL - kR); }
  double Y(double v) const { return kT + (1 - v / std::max(1.0, v1)) * (kH - kT - kB); }
  std::string P(double t, double v) const { return Fmt("%.1f", X(t)) + "," + Fmt("%.1f", Y(v)); }
  std::string Open(const char* id, const char* label) const {
    std::string s = std::string("<svg id=") + id + " role=img aria-label=\"" + label +
                    "\" xmlns=\"http://www.w3.org/2000/svg\" width=" + Fmt("%.0f", kW) +
                    " height=" + Fmt("%.0f", kH) + " viewBox=\"0 0 " + Fmt("%.0f", kW) + " " +
                    Fmt("%.0f", kH) + "\">";
    // Axes and labels: value ceiling and zero, first and last time.
    s += "<g font-size=11 fill=#687078><text x=4 y=" + Fmt("%.0f", kT + 10) + ">" +
         Fmt("%.0f", v1) + "</text><text x=4 y=" + Fmt("%.0f", kH - kB) + ">0</text>";
    s += "<text x=" + Fmt("%.0f", kL) + " y=" + Fmt("%.0f", kH - 8) + ">" +
         text::DateTime(static_cast<int64_t>(t0), true) + " UTC</text>";
    s += "<text text-anchor=end x=" + Fmt("%.0f", kW - kR) + " y=" + Fmt("%.0f", kH - 8) + ">" +
         text::DateTime(static_cast<int64_t>(t1), true) + " UTC</text></g>";
    s += "<line x1=" + Fmt("%.0f", kL) + " y1=" + Fmt("%.0f", kH - kB) +
         " x2=" + Fmt("%.0f", kW - kR) + " y2=" + Fmt("%.0f", kH - kB) + " stroke=#c8ccd2 />";
    return s;
  }
};

std::string Polyline(const Chart& c, const char* id, const char* colour,
                     const std::vector<HistoryPoint>& h, uint32_t HistoryPoint::*field) {
  std::string pts;
  pts.reserve(h.size() * 12);
  for (const HistoryPoint& p : h) {
    if (!pts.empty()) pts += ' ';
    pts += c.P(static_cast<double>(p.collected_unix_ms), p.*field);
  }
  return std::string("<polyline id=") + id + " data-points=" + std::to_string(h.size()) +
         " fill=none stroke=" + colour + " stroke-width=1.6 points=\"" + pts + "\" />";
}

// The utilisation curve: ports in use over the stored history, the usable range, and the host
// series' forecast from its latest fitted level to the capacity, with the band between the
// forecasts at the growth's upper and lower confidence bounds.
std::string UtilisationChart(const HostDetailView& d, const std::vector<HistoryPoint>& h) {
  const analysis::HostStatus& s = d.row.status;
  const analysis::SeriesFit& fit = s.ports.fit;
  double cap = s.ports.capacity;
  for (const HistoryPoint& p : h) cap = std::max<double>(cap, p.ports_usable);
  const double t0 = static_cast<double>(h.front().collected_unix_ms);
  const double tl = static_cast<double>(h.back().collected_unix_ms);
  const double span = std::max(1000.0, tl - t0);
  const bool forecast = HasEta(fit) && cap > 0;
  const double level = fit.trend.valid ? std::clamp(fit.trend.level, 0.0, cap)
                                       : static_cast<double>(h.back().ports_in_use);
  double horizon = 0;  // ms drawn beyond the last sample
  if (forecast) {
    const double eta = fit.forecast.eta_s * 1000;
    const double late = fit.forecast.eta_late_s * 1000;
    horizon = std::min(std::isfinite(late) ? late : 2 * eta, std::max(eta * 1.25, span));
    horizon = std::max(horizon, eta);
    horizon = std::min(horizon, 3 * span + eta);  // keep the history readable
  }
  Chart c{t0, tl + horizon, std::max(1.0, cap)};
  std::string out = c.Open("utilisation", "ephemeral ports in use over time");
  out += "<line id=capacity x1=" + Fmt("%.1f", c.X(t0)) + " y1=" + Fmt("%.1f", c.Y(cap)) +
         " x2=" + Fmt("%.1f", c.X(tl + horizon)) + " y2=" + Fmt("%.1f", c.Y(cap)) +
         " stroke=#b91c1c stroke-dasharray=\"6 4\" />";
  if (forecast) {
    const double eta = fit.forecast.eta_s * 1000;
    const double early = fit.forecast.eta_early_s * 1000;
    const double late = fit.forecast.eta_late_s * 1000;
    const double tend = tl + horizon;
    // A line from (tl, level) reaching cap after `to_full` ms, clipped at cap and at tend.
    auto line_end = [&](double to_full) {
      if (!std::isfinite(to_full) || to_full <= 0) return std::pair<double, double>{tend, level};
      if (to_full <= horizon) return std::pair<double, double>{tl + to_full, cap};
      return std::pair<double, double>{tend, level + (cap - level) * horizon / to_full};
    };
    const auto [ue_t, ue_v] = line_end(early);
    const auto [le_t, le_v] = line_end(late);
    std::string band = c.P(tl, level) + " " + c.P(ue_t, ue_v);
    if (ue_t < tend) band += " " + c.P(tend, cap);
    band += " " + c.P(tend, le_v);
    if (le_t < tend) band += " " + c.P(le_t, le_v);
    out += "<polygon id=forecast-interval fill=#d97706 fill-opacity=0.18 stroke=none points=\"" +
           band + "\" />";
    out += "<line id=forecast x1=" + Fmt("%.1f", c.X(tl)) + " y1=" + Fmt("%.1f", c.Y(level)) +
           " x2=" + Fmt("%.1f", c.X(tl + eta)) + " y2=" + Fmt("%.1f", c.Y(cap)) +
           " stroke=#d97706 stroke-width=2 stroke-dasharray=\"4 3\" />";
  }
  out += Polyline(c, "curve", "#0b57d0", h, &HistoryPoint::ports_in_use);
  out += "</svg>";
  return out;
}

std::string SocketsChart(const std::vector<HistoryPoint>& h) {
  double top = 1;
  for (const HistoryPoint& p : h) top = std::max<double>(top, std::max(p.time_wait, p.established));
  Chart c{
      static_cast<double>(h.front().collected_unix_ms),
      static_cast<double>(std::max(h.back().collected_unix_ms, h.front().collected_unix_ms + 1000)),
      top * 1.05};
  std::string out = c.Open("sockets", "TIME_WAIT and established sockets over time");
  out += Polyline(c, "time-wait", "#c2410c", h, &HistoryPoint::time_wait);
  out += Polyline(c, "established", "#2e7d32", h, &HistoryPoint::established);
  out += "</svg>";
  return out;
}

// `owners` (key -> owning program), when given, adds an Owner column.
void SeriesTable(std::string* out, const char* id, const char* what, const char* title,
                 const std::vector<analysis::SeriesStatus>& items, int64_t sample_ms,
                 int64_t now_ms, const std::map<std::string, std::string>* owners = nullptr) {
  *out += std::string("<h2>") + title + "</h2><table id=" + id + "><tr><th>" + what +
          "</th>" + (owners != nullptr ? "<th>Owner</th>" : "") +
          "<th>Ports</th><th>TIME_WAIT</th><th>Used</th><th>Growth</th>"
          "<th>TIME_WAIT growth</th><th>Full at</th><th></th></tr>";
  for (const auto& x : items) {
    std::string owner;
    if (owners != nullptr) {
      const auto it = owners->find(x.key);
      owner = "<td class=owner>" + (it != owners->end() ? it->second : std::string()) + "</td>";
    }
    *out += "<tr><td>" + Html(x.key) + "</td>" + owner + "<td class=n>" +
            std::to_string(x.ports) +
            "</td><td class=n>" + std::to_string(x.time_wait) + "</td><td class=n>" +
            Pct(x.utilization) + "</td><td class=n>" + Growth(x.fit) + "</td><td class=n>" +
            (x.fit.trend.valid ? Fmt("%+.1f/h", x.fit.trend.time_wait_per_hour) : "-") +
            "</td><td>" + Eta(x.fit, sample_ms, now_ms) + "</td><td class=muted>" +
            (x.present ? "" : "not in the latest report") + "</td></tr>";
  }
  if (items.empty()) {
    *out += std::string("<tr><td colspan=") + (owners != nullptr ? "9" : "8") +
            " class=muted>none tracked</td></tr>";
  }
  *out += "</table>";
}

// Accepted connections per listening port, apart from the outbound tables: their TIME_WAIT is
// this host closing first and holds the listener's port, never an ephemeral one.
void InboundTable(std::string* out, const SocketSummary& sockets) {
  if (sockets.inbound.empty() && sockets.inbound_time_wait == 0) return;
  const int tw = static_cast<int>(TcpState::kTimeWait);
  const int est = static_cast<int>(TcpState::kEstablished);
  *out += "<h2>Inbound (accepted on a listener)</h2><p class=muted id=inbound-total>" +
          std::to_string(sockets.inbound_time_wait) +
          " in TIME_WAIT on listening ports: this host closed first; they hold the listener's "
          "port, not an ephemeral one, so they are no destination pressure</p><table "
          "id=inbound><tr><th>Listening port</th><th>TIME_WAIT</th><th>Established</th>"
          "<th>All states</th></tr>";
  for (const InboundUsage& u : sockets.inbound) {
    uint32_t all = 0;
    for (uint32_t c : u.states) all += c;
    *out += "<tr><td>:" + std::to_string(u.port) + "</td><td class=n>" +
            std::to_string(u.states[tw]) + "</td><td class=n>" + std::to_string(u.states[est]) +
            "</td><td class=n>" + std::to_string(all) + "</td></tr>";
  }
  *out += "</table>";
}

// The audit's counts by severity and its worst violations: what was found against what the rule
// expects (its fix), each row linking to the host.
void PolicySection(std::string* out, const PolicyOverview& p) {
  if (!p.audited) return;
  *out +=
      "<h2>Policy violations</h2><p id=policy-counts data-critical=" + std::to_string(p.critical) +
      " data-warning=" + std::to_string(p.warning) + " data-info=" + std::to_string(p.info) +
      "><span class=\"st sev-critical\">critical</span>" + std::to_string(p.critical) +
      " <span class=\"st sev-warning\">warning</span>" + std::to_string(p.warning) +
      " <span class=\"st sev-info\">info</span>" + std::to_string(p.info) +
      " <span class=muted>on " + std::to_string(p.hosts) +
      " hosts; policy: " + Html(p.origin, 512) + "</span></p>";
  if (p.worst.empty()) {
    if (p.critical + p.warning + p.info == 0) {
      *out += "<p class=muted id=policy-none>no host violates the policy</p>";
    }
    return;
  }
  *out +=
      "<table id=violations><tr><th>Severity</th><th>Host</th><th>Rule</th><th>Found</th>"
      "<th>Expected (fix)</th></tr>";
  for (const ViolationRow& v : p.worst) {
    *out += "<tr data-severity=\"" + Html(v.severity, 16) + "\"><td><span class=\"st sev-" +
            Html(v.severity, 16) + "\">" + Html(v.severity, 16) +
            "</span></td><td class=name><a href=\"/host/" + text::UrlComponent(v.host) + "\">" +
            Html(v.host) + "</a></td><td>" + Html(v.rule) + "<br><span class=muted>" +
            Html(v.title, 512) + "</span></td><td>" + Html(v.detail, 1024) + "</td><td>" +
            Html(v.remediation, 1024) + "</td></tr>";
  }
  const uint64_t all = uint64_t{p.critical} + p.warning + p.info;
  *out += "</table>";
  if (all > p.worst.size()) {
    *out += "<p class=muted>the worst " + std::to_string(p.worst.size()) + " of " +
            std::to_string(all) + "; portwatchctl violations lists them all</p>";
  }
}

// --- JSON -----------------------------------------------------------------------------------

double Finite(double v) { return std::isfinite(v) ? v : -1; }

nlohmann::json ForecastJson(const analysis::SeriesFit& f) {
  return {{"valid", f.trend.valid},
          {"growth_per_hour", Finite(f.trend.per_hour)},
          {"growth_pct_per_hour", Finite(f.trend.pct_per_hour)},
          {"finite", HasEta(f)},
          {"eta_seconds", Finite(f.forecast.eta_s)},
          {"eta_early_seconds", Finite(f.forecast.eta_early_s)},
          {"eta_late_seconds", Finite(f.forecast.eta_late_s)}};
}

nlohmann::json HostInfoJson(const HostRow& r) {
  const analysis::HostStatus& s = r.status;
  return {{"host", s.host},
          {"state", StateName(s.state)},
          {"reason", s.reason},
          {"state_since_unix_ms", s.state_since_ms},
          {"last_seen_unix_ms", s.last_seen_ms},
          {"ports_in_use", s.ports.ports},
          {"ports_usable", s.ports.capacity},
          {"utilization", s.ports.utilization},
          {"forecast", ForecastJson(s.headline_fit)},
          {"headline", s.headline},
          {"driver_process", s.driver_process},
          {"driver_destination", s.driver_destination},
          {"explanation", s.explanation},
          {"os_version", r.os_version},
          {"agent_version", r.agent_version}};
}

nlohmann::json SeriesJson(const analysis::SeriesStatus& x) {
  return {{"key", x.key},
          {"present", x.present},
          {"ports", x.ports},
          {"time_wait", x.time_wait},
          {"capacity", x.capacity},
          {"utilization", x.utilization},
          {"forecast", ForecastJson(x.fit)}};
}

// Agent strings may hold invalid UTF-8: replace it rather than fail the whole answer.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

bool MatchesQuery(const FleetQuery& q, const std::string& name, analysis::HostState state) {
  if (!q.state.empty() && StateName(state) != q.state) return false;
  return q.name.empty() || name.find(q.name) != std::string::npos;
}

void SelectPage(std::vector<HostRow> rows, const FleetQuery& q, FleetView* out) {
  const size_t first = (q.page - 1) * q.per_page;
  out->matched = 0;
  out->hosts.clear();
  for (HostRow& r : rows) {
    if (!MatchesQuery(q, r.status.host, r.status.state)) continue;
    const size_t i = out->matched++;
    if (i >= first && i < first + q.per_page) out->hosts.push_back(std::move(r));
  }
}

FleetQuery ParseFleetQuery(const std::string& state, const std::string& name,
                           const std::string& page, const std::string& per_page) {
  FleetQuery q;
  for (int i = 0; i < kStates; ++i) {
    if (state == StateName(static_cast<HostState>(i))) q.state = state;
  }
  q.name = name.substr(0, 256);
  auto number = [](const std::string& s, size_t dflt) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) {
      return dflt;
    }
    const size_t v = std::stoul(s);
    return v == 0 ? dflt : v;
  };
  q.page = number(page, 1);
  q.per_page = std::min(number(per_page, 100), kMaxPerPage);
  return q;
}

std::string RenderFleetPage(const FleetView& fleet, const FleetQuery& q) {
  std::string out = Head("portwatch fleet");
  out.reserve(64 * 1024);
  out += "<h1>portwatch &mdash; fleet</h1><p class=muted>" + std::to_string(fleet.total) +
         " hosts, as of " + text::DateTime(fleet.now_unix_ms, true) + " UTC</p>";
  out += "<div class=counts id=counts>";
  for (HostState s : kStateOrder) {
    const std::string n = StateName(s);
    out += "<a href=\"/?state=" + n + "\" data-state=" + n + ">" + Badge(s) +
           std::to_string(fleet.state_counts[static_cast<int>(s)]) + "</a>";
  }
  out += "<a href=\"/\">all</a></div>";
  out += "<form method=get action=\"/\"><input name=q placeholder=\"host name contains\" value=\"" +
         Html(q.name) + "\"> <select name=state><option value=\"\">any state</option>";
  for (HostState s : kStateOrder) {
    const std::string n = StateName(s);
    out += "<option" + std::string(q.state == n ? " selected" : "") + ">" + n + "</option>";
  }
  out += "</select> <button>Filter</button></form>";

  const size_t matched = fleet.matched;
  std::string rows;
  for (const HostRow& r : fleet.hosts) {
    const analysis::HostStatus& s = r.status;
    const std::string name = Html(s.host);
    rows += "<tr class=host data-host=\"" + name + "\" data-state=" + StateName(s.state) +
            "><td class=name><a href=\"/host/" + text::UrlComponent(s.host) + "\">" + name +
            "</a></td><td class=state>" + Badge(s.state) + "</td><td class=\"util n\">" +
            Pct(s.ports.utilization) + " <span class=muted>" + std::to_string(s.ports.ports) + "/" +
            std::to_string(s.ports.capacity) + "</span></td><td class=\"growth n\">" +
            Growth(s.headline_fit) + "</td><td class=eta>" +
            Eta(s.headline_fit, s.last_sample_ms, fleet.now_unix_ms) + "</td><td class=driver>" +
            Driver(s) + "</td><td class=seen>" + Seen(s.last_seen_ms, fleet.now_unix_ms) +
            "</td></tr>";
  }
  const size_t pages = std::max<size_t>(1, (matched + q.per_page - 1) / q.per_page);
  out += "<table id=hosts data-matched=" + std::to_string(matched) +
         "><tr><th>Host</th><th>State</th><th>Used</th><th>Growth</th><th>Full at</th>"
         "<th>Driver / reason</th><th>Last seen</th></tr>" +
         rows;
  if (matched == 0) out += "<tr><td colspan=7 class=muted>no host matches</td></tr>";
  out += "</table><div class=pager id=pager>page " + std::to_string(std::min(q.page, pages)) +
         " of " + std::to_string(pages) + " (" + std::to_string(matched) + " hosts)";
  if (q.page > 1)
    out += " &middot; <a rel=prev href=\"" + FleetLink(q, q.page - 1) + "\">previous</a>";
  if (q.page < pages)
    out += " &middot; <a rel=next href=\"" + FleetLink(q, q.page + 1) + "\">next</a>";
  out += "</div><div class=cols>";
  AggregateTable(&out, "top-destinations", "Top destinations", fleet.destinations);
  AggregateTable(&out, "top-processes", "Top processes", fleet.processes);
  out += "</div>";
  PolicySection(&out, fleet.policy);
  out +=
      "<p class=muted>JSON: <a href=\"/api/hosts\">/api/hosts</a>, "
      "<a href=\"/api/destinations\">/api/destinations</a>, "
      "<a href=\"/api/processes\">/api/processes</a></p></body></html>\n";
  return out;
}

std::string RenderHostPage(const HostDetailView& d, const std::vector<HistoryPoint>& history,
                           const std::string& history_error, int64_t now_ms) {
  const analysis::HostStatus& s = d.row.status;
  std::string out = Head(Html(s.host) + " &mdash; portwatch");
  out += "<p><a href=\"/\">&larr; fleet</a></p><h1 id=host-name>" + Html(s.host) + " " +
         Badge(s.state) + "</h1>";
  out += "<p id=explanation>" + Html(s.explanation, 1024) + "</p>";
  out += "<table id=facts><tr><th>State</th><td>" + StateName(s.state) + " since " +
         Seen(s.state_since_ms, now_ms) + " &mdash; " + Html(s.reason) + "</td></tr>";
  out += "<tr><th>Ports</th><td>" + std::to_string(s.ports.ports) + " of " +
         std::to_string(s.ports.capacity) + " usable ephemeral ports (" + Pct(s.ports.utilization) +
         "), growth " + Growth(s.headline_fit) + "</td></tr>";
  out += "<tr><th>Full at</th><td id=eta>" + Eta(s.headline_fit, s.last_sample_ms, now_ms) +
         (s.headline.empty() ? "" : " (toward " + Html(s.headline) + ")") + "</td></tr>";
  out += "<tr><th>Driver</th><td id=driver>" + Driver(s) + "</td></tr>";
  out += "<tr><th>Last seen</th><td>" + Seen(s.last_seen_ms, now_ms) + "</td></tr>";
  out += "<tr><th>Agent</th><td>" + Html(d.row.os_version) + ", agent " +
         Html(d.row.agent_version) + "</td></tr></table>";

  out += "<h2>Ephemeral ports over the stored history</h2>";
  if (!history_error.empty()) {
    out += "<p class=muted>" + Html(history_error, 512) + "</p>";
  } else if (history.empty()) {
    out += "<p class=muted>no stored reports yet</p>";
  } else {
    out += UtilisationChart(d, history);
    out += "<p class=muted>" + std::to_string(history.size()) +
           " reports; blue: ports in use, red dashes: usable range, orange: forecast of the "
           "host's range and its confidence band" +
           (history.size() >= kMaxHistoryPoints ? " (the newest reports only)" : "") + "</p>";
    out += "<h2>TIME_WAIT and established</h2>" + SocketsChart(history) +
           "<p class=muted>orange: TIME_WAIT, green: established</p>";
  }
  // The program holding the most live connections toward each destination, as the agent saw
  // the socket owners in the latest report (TIME_WAIT has none).
  std::map<std::string, std::string> owners;
  if (d.has_report) {
    for (const DestinationUsage& u : d.last_report.destinations.top) {
      if (u.top_process.empty()) continue;
      owners[u.remote.ToString()] = Html(u.top_process) + " <span class=muted>(pid " +
                                    std::to_string(u.top_process_pid) + ", " +
                                    std::to_string(u.top_process_connections) + " live)</span>";
    }
  }
  SeriesTable(&out, "destinations", "Destination", "Destinations", s.destinations, s.last_sample_ms,
              now_ms, owners.empty() ? nullptr : &owners);
  SeriesTable(&out, "processes", "Process", "Processes", s.processes, s.last_sample_ms, now_ms);
  if (d.has_report) InboundTable(&out, d.last_report.sockets);

  out += "<h2>Settings</h2>";
  if (!d.has_config) {
    out += "<p class=muted>no settings reported yet</p>";
  } else {
    out += "<p class=muted>sampled " + Seen(d.config_collected_unix_ms, now_ms) + "; " +
           Html(d.config.os_version) +
           "</p><table id=settings><tr><th>Setting</th>"
           "<th>Value</th></tr>";
    for (const ConfigValue& v : d.config.values) {
      std::string val = !v.present ? "<span class=default>absent: OS default applies</span>"
                        : v.type == ConfigValue::Type::kInt ? std::to_string(v.int_value)
                                                            : Html(v.string_value);
      out += "<tr" + std::string(v.present ? "" : " class=absent") + "><td>" + Html(v.key) +
             "</td><td>" + val + "</td></tr>";
    }
    out += "</table>";
  }
  out += "<h2>Event counters</h2>";
  if (!d.has_report) {
    out += "<p class=muted>no report yet</p>";
  } else {
    const EventCounts& ev = d.last_report.events;
    if (ev.degraded) out += "<p class=muted>degraded: " + Html(ev.degraded_reason, 512) + "</p>";
    out += "<table id=events><tr><th>Counter</th><th>Value</th><th>Last</th></tr>";
    for (const EventCounter& c : ev.counters) {
      out +=
          "<tr><td>" + Html(c.name) + "</td><td class=n>" + std::to_string(c.value) + "</td><td>" +
          (c.last_unix_ms > 0 ? When(c.last_unix_ms, now_ms) : "<span class=muted>unknown</span>") +
          "</td></tr>";
    }
    if (ev.counters.empty()) out += "<tr><td colspan=3 class=muted>none reported</td></tr>";
    out += "</table>";
  }
  out += "<p class=muted>JSON: <a href=\"/api/host/" + text::UrlComponent(s.host) +
         "\">/api/host/" + Html(s.host) + "</a></p></body></html>\n";
  return out;
}

std::string RenderErrorPage(const std::string& title, const std::string& message) {
  return Head(Html(title)) + "<p><a href=\"/\">&larr; fleet</a></p><h1>" + Html(title) +
         "</h1><p>" + Html(message, 1024) + "</p></body></html>\n";
}

std::string FleetJson(const FleetView& fleet, const FleetQuery& q) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const HostRow& r : fleet.hosts) hosts.push_back(HostInfoJson(r));
  nlohmann::json counts;
  for (int i = 0; i < kStates; ++i) {
    counts[StateName(static_cast<HostState>(i))] = fleet.state_counts[i];
  }
  return Dump({{"total", fleet.total},
               {"matched", fleet.matched},
               {"page", q.page},
               {"per_page", q.per_page},
               {"state_counts", counts},
               {"hosts", hosts}});
}

std::string HostJson(const HostDetailView& d, const std::vector<HistoryPoint>& history) {
  nlohmann::json j;
  j["info"] = HostInfoJson(d.row);
  j["destinations"] = nlohmann::json::array();
  for (const auto& x : d.row.status.destinations) j["destinations"].push_back(SeriesJson(x));
  j["processes"] = nlohmann::json::array();
  for (const auto& x : d.row.status.processes) j["processes"].push_back(SeriesJson(x));
  nlohmann::json values = nlohmann::json::array();
  for (const ConfigValue& v : d.config.values) {
    nlohmann::json e = {{"key", v.key}, {"present", v.present}};
    if (v.present && v.type == ConfigValue::Type::kInt) e["int_value"] = v.int_value;
    if (v.present && v.type == ConfigValue::Type::kString) e["string_value"] = v.string_value;
    values.push_back(e);
  }
  j["config"] = {{"os_version", d.config.os_version}, {"values", values}};
  nlohmann::json events = nlohmann::json::array();
  for (const EventCounter& c : d.last_report.events.counters) {
    events.push_back({{"name", c.name}, {"value", c.value}, {"last_unix_ms", c.last_unix_ms}});
  }
  j["events"] = events;
  nlohmann::json inbound = nlohmann::json::array();
  for (const InboundUsage& u : d.last_report.sockets.inbound) {
    inbound.push_back({{"port", u.port},
                       {"time_wait", u.states[static_cast<int>(TcpState::kTimeWait)]},
                       {"established", u.states[static_cast<int>(TcpState::kEstablished)]}});
  }
  j["inbound"] = {{"time_wait", d.last_report.sockets.inbound_time_wait}, {"ports", inbound}};
  nlohmann::json h = nlohmann::json::array();
  for (const HistoryPoint& p : history) {
    h.push_back({p.collected_unix_ms, p.ports_in_use, p.ports_usable, p.time_wait, p.established});
  }
  j["history_columns"] = {"collected_unix_ms", "ports_in_use", "ports_usable", "time_wait",
                          "established"};
  j["history"] = h;
  return Dump(j);
}

AggregateQuery ParseAggregateQuery(const std::string& host, const std::string& key,
                                   const std::string& limit) {
  AggregateQuery q;
  q.host = host.substr(0, 256);
  q.key = key.substr(0, 256);
  if (!limit.empty() && limit.size() <= 6 &&
      limit.find_first_not_of("0123456789") == std::string::npos) {
    q.limit = std::min<size_t>(std::max<size_t>(std::stoul(limit), 1), kMaxAggregateLimit);
  }
  return q;
}

std::vector<analysis::FleetAggregate> SumSeries(
    const std::vector<const std::vector<analysis::SeriesStatus>*>& per_host,
    const AggregateQuery& q) {
  std::map<std::string, analysis::FleetAggregate> by_key;
  for (const auto* series : per_host) {
    for (const analysis::SeriesStatus& s : *series) {
      // Like the fleet analysis: a series counts while its host's latest report lists it.
      if (!s.present || s.key.find(q.key) == std::string::npos) continue;
      analysis::FleetAggregate& a = by_key[s.key];
      a.key = s.key;
      ++a.hosts;
      a.ports += s.ports;
      a.time_wait += s.time_wait;
      if (s.fit.trend.valid) a.growth_milli_per_hour += std::llround(s.fit.trend.per_hour * 1000);
      a.growing_hosts += s.fit.growing ? 1 : 0;
    }
  }
  std::vector<analysis::FleetAggregate> all;
  all.reserve(by_key.size());
  for (auto& [key, a] : by_key) all.push_back(std::move(a));
  const size_t n = std::min(q.limit, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const analysis::FleetAggregate& a, const analysis::FleetAggregate& b) {
                      return std::tie(b.growing_hosts, b.growth_milli_per_hour, b.ports, a.key) <
                             std::tie(a.growing_hosts, a.growth_milli_per_hour, a.ports, b.key);
                    });
  all.resize(n);
  return all;
}

std::vector<analysis::FleetAggregate> FilterAggregates(
    const std::vector<analysis::FleetAggregate>& ranked, const AggregateQuery& q) {
  std::vector<analysis::FleetAggregate> out;
  for (const analysis::FleetAggregate& a : ranked) {
    if (out.size() >= q.limit) break;
    if (a.key.find(q.key) != std::string::npos) out.push_back(a);
  }
  return out;
}

std::string AggregatesJson(const std::vector<analysis::FleetAggregate>& items) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& x : items) {
    a.push_back({{"key", x.key},
                 {"hosts", x.hosts},
                 {"growing_hosts", x.growing_hosts},
                 {"ports", x.ports},
                 {"time_wait", x.time_wait},
                 {"growth_per_hour", x.growth_per_hour()}});
  }
  return Dump({{"items", a}});
}

}  // namespace portwatch::collector::ui
