#include "portwatch/analysis/host_analyzer.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>

namespace portwatch::analysis {
namespace {

bool Listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

double Utilization(uint32_t ports, uint32_t capacity) {
  return capacity == 0 ? 0.0 : static_cast<double>(ports) / capacity;
}

std::string Printf(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string FormatPercent(double ratio) { return Printf("%.0f%%", ratio * 100); }

std::string FormatRate(double pct_per_hour) {
  return Printf(std::fabs(pct_per_hour) < 0.95 ? "%+.2f%%/h" : "%+.1f%%/h", pct_per_hour);
}

// "~45 s", "~12 min", "~9 h", "~3.5 d": rounded the way a person would say it.
std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds)) return "never";
  if (seconds < 90) return Printf("~%.0f s", seconds);
  if (seconds < 90 * 60) return Printf("~%.0f min", seconds / 60);
  if (seconds < 10 * 3600) return Printf("~%.1f h", seconds / 3600);
  if (seconds < 48 * 3600) return Printf("~%.0f h", seconds / 3600);
  return Printf("~%.1f d", seconds / 86400);
}

SeriesStatus StatusOf(const std::string& key, const TrackedSeries& s, uint32_t capacity,
                      int64_t last_sample_ms) {
  SeriesStatus out;
  out.key = key;
  out.present = s.last_ms() == last_sample_ms;
  out.ports = s.last_ports();
  out.time_wait = s.last_time_wait();
  out.capacity = capacity;
  out.utilization = Utilization(out.ports, capacity);
  out.fit = s.fit();
  return out;
}

// The present series with the largest positive growth, if it is at least `min_per_hour`.
std::string Driver(const std::vector<SeriesStatus>& series, double min_per_hour) {
  const SeriesStatus* best = nullptr;
  for (const SeriesStatus& s : series) {
    if (!s.present || !s.fit.trend.valid || s.fit.trend.per_hour <= 0) continue;
    if (best == nullptr || s.fit.trend.per_hour > best->fit.trend.per_hour) best = &s;
  }
  if (best == nullptr || best->fit.trend.per_hour < min_per_hour) return "";
  return best->key;
}

// --- Tiers ---------------------------------------------------------------------------------
// The ticket's quick reset: a drifting series whose recent window's growth is significantly below
// half the rise that made it drift has stopped (or all but). The rise is the larger of the fitted
// trend and the long window's average, which remembers it for hours after the fit has begun to
// follow the new, flat data. The upper bound, not the estimate: noise alone does not clear the
// ticket, so a running leak keeps it. A season-adjusted verdict is left to the season (a daily
// cycle's afternoon fall is not a leak stopping).
bool GrowthStopped(const SeriesFit& f) {
  const WindowForecast& w = f.recent_window;
  const double rise = std::max(f.trend.valid ? f.trend.per_hour : 0.0,
                               f.long_window.valid ? f.long_window.per_hour : 0.0);
  return f.sustained && !f.seasonal && rise > 0 && w.valid && w.per_hour_high < 0.5 * rise;
}

// The page: the short and the long window both forecast exhaustion within `eta_ms`, and the short
// window has not stalled (its newest buckets clearly below its line): a rise that stopped ends
// the page within a few buckets, before the window's slope has turned. To start a page the rise
// must also be significant, in the short window or the recent one (a slow leak near the top of
// its range moves too little in 30 minutes to bound), so noise near the top does not page. On
// compressed time a rise made of TIME_WAIT is the churn model's call, as for drifting.
bool WindowsPage(const SeriesFit& f, double eta_ms, bool to_start, const Options& options) {
  const WindowForecast& s = f.short_window;
  const WindowForecast& l = f.long_window;
  if (!s.valid || !l.valid || s.stalled) return false;
  if (to_start && !(s.per_hour_low > 0) &&
      !(f.recent_window.valid && f.recent_window.per_hour_low > 0)) {
    return false;
  }
  if (options.time_scale < 1 && s.per_hour > 0 && s.time_wait_per_hour >= 0.5 * s.per_hour) {
    return false;
  }
  return s.eta_s * 1000 < eta_ms && l.eta_s * 1000 < eta_ms;
}

void SortLargestFirst(std::vector<SeriesStatus>* v) {
  std::sort(v->begin(), v->end(), [](const SeriesStatus& a, const SeriesStatus& b) {
    if (a.ports != b.ports) return a.ports > b.ports;
    return a.key < b.key;
  });
}

}  // namespace

std::string_view HostStateName(HostState state) {
  switch (state) {
    case HostState::kOk:
      return "ok";
    case HostState::kDrifting:
      return "drifting";
    case HostState::kCritical:
      return "critical";
    case HostState::kExhausted:
      return "exhausted";
    case HostState::kSilent:
      return "silent";
  }
  return "ok";
}

int HostStateSeverity(HostState state) {
  switch (state) {
    case HostState::kExhausted:
      return 4;
    case HostState::kCritical:
      return 3;
    case HostState::kDrifting:
      return 2;
    case HostState::kSilent:
      return 1;
    case HostState::kOk:
      break;
  }
  return 0;
}

HostSample SampleFromReport(const Report& report) {
  HostSample s;
  s.unix_ms = report.collected_unix_ms;
  s.ports_in_use = report.sockets.ephemeral_ports_in_use;
  s.ports_usable = report.sockets.ephemeral_ports_usable;
  for (int f = 0; f < kFamilyCount; ++f) {
    s.time_wait += report.sockets.count(static_cast<Family>(f), TcpState::kTimeWait);
  }
  // TIME_WAIT on a listener's port (this host served and closed first) holds no ephemeral port:
  // as churn it would lower the live share of the ports and raise a close rate that costs
  // outbound connects nothing.
  s.time_wait -= std::min(s.time_wait, report.sockets.inbound_time_wait);
  const int tw = static_cast<int>(TcpState::kTimeWait);
  s.destinations.reserve(report.destinations.top.size());
  for (const DestinationUsage& d : report.destinations.top) {
    s.destinations.push_back({d.remote.ToString(), d.local_ports, d.states[tw], d.top_process,
                              d.top_process_connections});
  }
  // Several pids of one program are one process to a person reading "driven by w3wp.exe".
  std::map<std::string, DetailSample> by_name;
  for (const ProcessUsage& p : report.processes.top) {
    DetailSample& d = by_name[p.name];
    d.key = p.name;
    d.ports += p.ephemeral_ports;
    d.time_wait += p.states[tw];
  }
  s.processes.reserve(by_name.size());
  for (auto& [name, d] : by_name) s.processes.push_back(std::move(d));
  s.counters.reserve(report.events.counters.size());
  for (const EventCounter& c : report.events.counters) s.counters.push_back({c.name, c.value});
  if (report.has_config) {
    s.has_settings = true;
    s.settings = SettingsFromConfig(report.config);
  }
  return s;
}

HostAnalyzer::HostAnalyzer(std::string host)
    : host_(std::move(host)), ports_(2), tw_(TimeWaitFor(HostSettings{})) {}

int64_t HostAnalyzer::SampleTime(int64_t agent_ms, int64_t received_ms, const Options& options) {
  clock_skew_ms_ = agent_ms - received_ms;
  // A clock that was re-based and now agrees with ours again needs the offset no more.
  if (clock_offset_ms_ != 0 && std::llabs(clock_skew_ms_) <= options.max_clock_skew_ms &&
      (!has_sample_ || agent_ms >= last_sample_ms_)) {
    clock_offset_ms_ = 0;
  }
  int64_t t = agent_ms + clock_offset_ms_;
  // Dated ahead of its arrival: a clock that is wrong, not a sample from the future. One such
  // report must not move the host's clock (every later report would look older).
  if (t - received_ms > options.max_clock_skew_ms) {
    ++clock_corrections_;
    t = received_ms;
  }
  if (has_sample_ && t < last_sample_ms_) {
    ++clock_corrections_;
    if (last_sample_ms_ - t > options.max_clock_skew_ms) {
      // The agent's clock stepped back: re-base it so its samples continue from receipt time
      // onward instead of being refused until the clock catches up.
      const int64_t target = std::max(received_ms, last_sample_ms_);
      clock_offset_ms_ += target - t;
      t = target;
    } else {
      t = last_sample_ms_;  // a small step back (NTP slew): hold time still
    }
  }
  return t;
}

Status HostAnalyzer::Update(const HostSample& in, int64_t received_unix_ms, const Options& options,
                            Workspace* ws) {
  // Last-seen is the collector's clock: any report received is a sign of life.
  last_seen_ms_ = std::max(last_seen_ms_, received_unix_ms);
  HostSample sample_copy;
  const int64_t t = SampleTime(in.unix_ms, received_unix_ms, options);
  const HostSample* sp = &in;
  if (t != in.unix_ms) {
    sample_copy = in;
    sample_copy.unix_ms = t;
    sp = &sample_copy;
  }
  const HostSample& sample = *sp;
  if (!has_sample_) {
    // The ring is sized on first use so a host created and never fed costs almost nothing.
    ports_ = TrackedSeries(options.host.window_buckets);
    state_since_ms_ = sample.unix_ms;
  }
  if (silent_) {
    silent_ = false;
    state_since_ms_ = sample.unix_ms;
  }
  capacity_ = sample.ports_usable;
  if (sample.has_settings) {
    settings_ = sample.settings;
    tw_ = TimeWaitFor(settings_);
  }
  churn_.Add(sample.unix_ms, sample.ports_in_use, sample.time_wait, tw_.seconds, capacity_);

  // Counters: only an increase over the previous reading is an event. The first reading is a
  // baseline (it counts history from before we watched), and a decrease is a reboot or agent
  // restart, which starts a new baseline.
  for (const CounterSample& c : sample.counters) {
    const bool critical = Listed(options.critical_counters, c.name);
    const bool exhausted = Listed(options.exhausted_counters, c.name);
    if (!critical && !exhausted) continue;
    auto [it, inserted] = counters_.try_emplace(c.name, c.value);
    if (!inserted && c.value > it->second) {
      const std::string what = c.name + " rose by " + std::to_string(c.value - it->second);
      if (exhausted) {
        exhausted_evidence_ms_ = sample.unix_ms;
        exhausted_reason_ = what;
      }
      if (critical) {
        critical_until_ms_ =
            std::max(critical_until_ms_, sample.unix_ms + options.critical_hold_ms);
        critical_reason_ = what;
      }
    }
    it->second = c.value;
  }

  const bool host_refit =
      ports_.Add(sample.unix_ms, sample.ports_in_use, sample.time_wait, options.host, options) ==
      TrackedSeries::AddResult::kBucketClosed;
  if (host_refit) ports_.Refit(capacity_, options.host, options, ws);
  last_sample_ms_ = sample.unix_ms;
  has_sample_ = true;
  UpdateDetails(&destinations_, sample.destinations, sample.unix_ms, options, ws, true);
  UpdateDetails(&processes_, sample.processes, sample.unix_ms, options, ws, false);

  // Exhausted: the range, or the 4-tuples toward one destination, at (nearly) 100%.
  double utilization = Utilization(sample.ports_in_use, capacity_);
  std::string full_what =
      FormatPercent(utilization) + " of " + std::to_string(capacity_) + " ports in use";
  for (const DetailSample& d : sample.destinations) {
    const double u = Utilization(d.ports, capacity_);
    if (u > utilization) {
      utilization = u;
      full_what = "4-tuples toward " + d.key + " at " + FormatPercent(u) + " of " +
                  std::to_string(capacity_);
    }
  }
  if (capacity_ > 0 && utilization >= options.exhausted_enter_utilization) {
    exhausted_evidence_ms_ = sample.unix_ms;
    exhausted_reason_ = full_what;
  }
  // Enter at once on evidence; stay while utilisation is above the (lower) leave threshold, and
  // at least min_dwell_ms after the last evidence, so one sample under the line does not flip it.
  const bool evidence_now = exhausted_evidence_ms_ == sample.unix_ms && !exhausted_reason_.empty();
  const bool recent =
      !exhausted_reason_.empty() && sample.unix_ms - exhausted_evidence_ms_ < options.min_dwell_ms;
  exhausted_ = evidence_now || recent ||
               (exhausted_ && capacity_ > 0 && utilization >= options.exhausted_leave_utilization);
  EvaluateChurn(sample.unix_ms, options);
  Evaluate(sample.unix_ms, host_refit, options);
  return Status::Ok();
}

void HostAnalyzer::UpdateDetails(DetailMap* map, const std::vector<DetailSample>& samples,
                                 int64_t unix_ms, const Options& options, Workspace* ws,
                                 bool churn) {
  for (const DetailSample& d : samples) {
    auto it = map->find(d.key);
    if (it == map->end()) {
      it = map->emplace(d.key, Detail(options.detail.window_buckets)).first;
      if (churn) it->second.churn = std::make_unique<ChurnTracker>();
    }
    if (it->second.churn)
      it->second.churn->Add(unix_ms, d.ports, d.time_wait, tw_.seconds, capacity_);
    // Allocated once an agent names an owner, so an older agent's destinations cost nothing.
    if (churn && (it->second.owners || !d.owner.empty())) {
      if (!it->second.owners) it->second.owners = std::make_unique<OwnerTally>();
      it->second.owners->Add(d.owner, d.owner_connections);
    }
    TrackedSeries& s = it->second.series;
    if (s.Add(unix_ms, d.ports, d.time_wait, options.detail, options) ==
        TrackedSeries::AddResult::kBucketClosed) {
      s.Refit(capacity_, options.detail, options, ws);
    }
  }
  // Series that fell out of the top-K: kept for a while in case they return, then forgotten,
  // so memory stays bounded by what a host reports.
  for (auto it = map->begin(); it != map->end();) {
    if (unix_ms - it->second.series.last_ms() > options.detail_expiry_ms) {
      it = map->erase(it);
    } else {
      ++it;
    }
  }
}

bool HostAnalyzer::Counts(const SeriesFit& fit, const Options& options) {
  // On compressed time a TIME_WAIT rise of one physical T_tw spans many compressed buckets and
  // reads as a steep leak; what it means is the churn model's call (EvaluateChurn).
  if (options.time_scale >= 1 || !fit.trend.valid || fit.trend.per_hour <= 0) return true;
  return fit.trend.time_wait_per_hour < 0.5 * fit.trend.per_hour;
}

void HostAnalyzer::WorstChurn(std::string* key, ChurnEstimate* estimate) const {
  key->clear();
  *estimate = churn_.Estimate(tw_.seconds, capacity_);
  for (const auto& [k, d] : destinations_) {
    if (!d.churn || d.series.last_ms() != last_sample_ms_) continue;
    // Only a destination holding a tenth of the range can be the worst; skipping the rest keeps
    // this O(1) per quiet destination.
    if (d.series.last_ports() * 10 < capacity_) continue;
    const ChurnEstimate e = d.churn->Estimate(tw_.seconds, capacity_);
    if (e.valid && e.steady_utilization > estimate->steady_utilization) {
      *estimate = e;
      *key = k;
    }
  }
}

void HostAnalyzer::EvaluateChurn(int64_t unix_ms, const Options& options) {
  std::string key;
  ChurnEstimate e;
  WorstChurn(&key, &e);
  if (!e.valid || capacity_ == 0) return;
  const std::string what = key.empty() ? "ports" : "4-tuples toward " + key;
  // At risk: where today's churn settles is within the margin of capacity. Steady, so no trend
  // sees it: the host must still never read "ok".
  const double leave = options.churn_margin * options.churn_leave_factor;
  // Three samples in a row, so one spike is not a risk.
  const bool growing_in = e.steady_utilization >= 0.5 &&
                          e.eta_s * 1000 <= static_cast<double>(options.churn_forecast_ms);
  at_risk_streak_ =
      e.steady_utilization >= options.churn_margin || growing_in ? at_risk_streak_ + 1 : 0;
  if (!at_risk_ && at_risk_streak_ >= 3) {
    at_risk_ = true;
    at_risk_since_ms_ = unix_ms;
  } else if (at_risk_ && e.steady_utilization < leave && !growing_in &&
             unix_ms - at_risk_since_ms_ >= options.min_dwell_ms) {
    at_risk_ = false;
  }
  if (at_risk_) {
    at_risk_reason_ =
        "at risk: today's churn settles at " + FormatPercent(e.steady_utilization) + " of " + what;
    if (std::isfinite(e.eta_s)) {
      at_risk_reason_ += ", growing: full in " + FormatDuration(e.eta_s);
    }
  }
  // Churn that does not fit: connects fail within one TIME_WAIT duration. Two samples in a row,
  // so one noisy reading of the rise does not page.
  churn_over_streak_ =
      e.steady_utilization >= options.churn_critical_utilization ? churn_over_streak_ + 1 : 0;
  if (churn_over_streak_ >= 2) {
    critical_until_ms_ = std::max(critical_until_ms_, unix_ms + options.min_dwell_ms);
    critical_reason_ = "churn does not fit: " + what + " settle at " +
                       FormatPercent(e.steady_utilization) + ", full within " +
                       FormatDuration(tw_.seconds);
  }
}

void HostAnalyzer::Evaluate(int64_t unix_ms, bool host_refit, const Options& options) {
  // The drift decision and the trend's page move once per host bucket, so the evaluation counts
  // are buckets, whatever the report interval.
  if (host_refit) {
    bool sustained = false;  // any series: the slow leave rule
    bool any_evidence = false;
    bool live_evidence = false;  // of series whose growth has not stopped
    bool live_sustained = false;
    bool stopped = false;  // a drifting series whose recent window shows it stopped
    bool page_stay = false;
    const SeriesFit* page_fit = nullptr;
    std::string page_key;
    const double page_ms = static_cast<double>(options.critical_eta_ms);
    auto vote = [&](const std::string& key, const SeriesFit& f) {
      if (Counts(f, options)) {
        const bool st = GrowthStopped(f);
        sustained = sustained || f.sustained;
        // After drifting ended (by either rule), the fit may still hold the old rise as
        // evidence: entry then also needs the recent window itself to rise significantly.
        const bool resumed =
            !left_drifting_ || (f.recent_window.valid && f.recent_window.per_hour_low > 0);
        any_evidence = any_evidence || f.evidence;
        live_evidence = live_evidence || (f.evidence && !st && resumed);
        live_sustained = live_sustained || (f.sustained && !st);
        stopped = stopped || st;
      }
      if (options.critical_eta_ms <= 0) return;
      if (WindowsPage(f, page_ms, true, options) &&
          (page_fit == nullptr || f.short_window.eta_s < page_fit->short_window.eta_s)) {
        page_fit = &f;
        page_key = key;
      }
      page_stay = page_stay || WindowsPage(f, page_ms * options.leave_relax, false, options);
    };
    vote("", ports_.fit());
    for (const auto& [key, d] : destinations_) {
      if (d.series.last_ms() == last_sample_ms_) vote(key, d.series.fit());
    }
    // Drifting (the ticket): enters on evidence from a series still growing; leaves slowly
    // (leave_evaluations without sustained evidence, and min_dwell_ms), or quickly once the
    // recent window has shown the growth stopped for stop_evaluations buckets in a row.
    // Soft reset: while the host series settles after a change point or a gap, "no verdict" is
    // not "no drift": no streak moves unless some series has a verdict (sustained, or its recent
    // window shows the growth stopped).
    if (ports_.fit().settling && !sustained && !stopped) {
      // hold
    } else if (!drifting_) {
      // The fit has caught up (no evidence for as long as the recent window, so nothing of the
      // old evidence is left in it): the usual rules again.
      quiet_streak_ = any_evidence ? 0 : quiet_streak_ + 1;
      if (quiet_streak_ >= std::max<int64_t>(options.leave_evaluations,
                                             options.recent_window_ms / options.host.bucket_ms)) {
        left_drifting_ = false;
      }
      enter_streak_ = live_evidence ? enter_streak_ + 1 : 0;
      if (enter_streak_ >= options.enter_evaluations) {
        drifting_ = true;
        drifting_since_ms_ = unix_ms;
        leave_streak_ = stop_streak_ = 0;
      }
    } else {
      leave_streak_ = sustained ? 0 : leave_streak_ + 1;
      // A streak starts with a series shown stopped and goes on while no series drifts on.
      stop_streak_ =
          !live_sustained && (stopped || (stop_streak_ > 0 && !sustained)) ? stop_streak_ + 1 : 0;
      if ((leave_streak_ >= options.leave_evaluations &&
           unix_ms - drifting_since_ms_ >= options.min_dwell_ms) ||
          stop_streak_ >= options.stop_evaluations) {
        left_drifting_ = true;
        quiet_streak_ = 0;
        drifting_ = false;
        enter_streak_ = 0;
      }
    }
    // Critical from the trend (the page): at once when both windows forecast exhaustion within
    // critical_eta_ms; it ends after critical_leave_evaluations buckets in which either no
    // longer does within critical_eta_ms * leave_relax, or the short window stalled. No
    // min_dwell_ms: the stall shows a stopped rise within a few buckets, and a page that outlives
    // its cause is noise.
    if (page_fit != nullptr) {
      trend_page_ = true;
      page_leave_streak_ = 0;
      page_key_ = page_key;
      page_reason_ = (page_key.empty() ? "" : "4-tuples toward " + page_key + " ") + "full in " +
                     FormatDuration(page_fit->short_window.eta_s) + " (short window; long window " +
                     FormatDuration(page_fit->long_window.eta_s) + ")";
    } else if (trend_page_) {
      page_leave_streak_ = page_stay ? 0 : page_leave_streak_ + 1;
      if (page_leave_streak_ >= options.critical_leave_evaluations) trend_page_ = false;
    }
  }
  if (exhausted_) {
    SetState(HostState::kExhausted, unix_ms, exhausted_reason_);
  } else if (unix_ms < critical_until_ms_) {
    SetState(HostState::kCritical, unix_ms, critical_reason_);
  } else if (trend_page_) {
    SetState(HostState::kCritical, unix_ms, page_reason_);
  } else if (drifting_) {
    SetState(HostState::kDrifting, unix_ms, "growing toward exhaustion");
  } else if (at_risk_) {
    SetState(HostState::kDrifting, unix_ms, at_risk_reason_);
  } else {
    SetState(HostState::kOk, unix_ms, "");
  }
}

void HostAnalyzer::SetState(HostState s, int64_t unix_ms, std::string reason) {
  if (s != state_) {
    state_ = s;
    state_since_ms_ = unix_ms;
  }
  reason_ = std::move(reason);
}

void HostAnalyzer::MarkSilent(int64_t now_unix_ms) {
  if (silent_) return;
  silent_ = true;
  silent_since_ms_ = now_unix_ms;
}

void HostAnalyzer::Headline(std::string* key, const SeriesFit** fit) const {
  key->clear();
  *fit = &ports_.fit();
  double best = ports_.fit().sustained ? ports_.fit().forecast.eta_s : kNever;
  for (const auto& [k, d] : destinations_) {
    const SeriesFit& f = d.series.fit();
    if (d.series.last_ms() != last_sample_ms_ || !f.sustained) continue;
    if (f.forecast.eta_s < best) {
      best = f.forecast.eta_s;
      *key = k;
      *fit = &f;
    }
  }
}

Contribution HostAnalyzer::ContributionOf(const TrackedSeries& s) {
  Contribution c;
  c.ports = s.last_ports();
  c.time_wait = s.last_time_wait();
  if (s.fit().trend.valid) c.growth_milli_per_hour = std::llround(s.fit().trend.per_hour * 1000);
  c.growing = s.fit().growing;
  return c;
}

HostSummary HostAnalyzer::Summarize() const {
  HostSummary out;
  out.state = state();
  out.utilization = Utilization(ports_.last_ports(), capacity_);
  out.last_seen_ms = last_seen_ms_;
  std::string key;
  const SeriesFit* fit = nullptr;
  Headline(&key, &fit);
  out.growth_pct_per_hour = fit->trend.pct_per_hour;
  if (state_ != HostState::kOk && fit->sustained) out.eta_s = fit->forecast.eta_s;
  out.clock_skew_s = static_cast<double>(clock_skew_ms_) / 1000;
  std::string churn_key;
  ChurnEstimate churn;
  WorstChurn(&churn_key, &churn);
  out.steady_utilization = churn.steady_utilization;
  out.churn_headroom = churn.headroom;
  out.at_risk = at_risk_;
  return out;
}

HostStatus HostAnalyzer::Describe(const Options& options, int64_t now_unix_ms) const {
  HostStatus out;
  out.host = host_;
  out.state = state();
  out.state_since_ms = silent_ ? silent_since_ms_ : state_since_ms_;
  out.reason = reason_;
  out.last_sample_ms = last_sample_ms_;
  out.last_seen_ms = last_seen_ms_;
  out.ports = StatusOf("", ports_, capacity_, last_sample_ms_);
  for (const auto& [key, d] : destinations_) {
    out.destinations.push_back(StatusOf(key, d.series, capacity_, last_sample_ms_));
  }
  for (const auto& [key, d] : processes_) {
    out.processes.push_back(StatusOf(key, d.series, capacity_, last_sample_ms_));
  }
  SortLargestFirst(&out.destinations);
  SortLargestFirst(&out.processes);
  const SeriesFit* fit = nullptr;
  Headline(&out.headline, &fit);
  out.headline_fit = *fit;

  const double min_driver = options.driver_min_share * std::max(0.0, fit->trend.per_hour);
  out.driver_process = Driver(out.processes, min_driver);
  out.driver_destination =
      out.headline.empty() ? Driver(out.destinations, min_driver) : out.headline;

  // The line a person reads: what, how fast, when, and what drives it.
  std::string line = host_ + ": ";
  if (out.state == HostState::kSilent) {
    line += "silent, no report for " +
            FormatDuration(static_cast<double>(now_unix_ms - last_seen_ms_) / 1000) + "; last ";
    out.reason =
        "no report for " + FormatDuration(static_cast<double>(now_unix_ms - last_seen_ms_) / 1000);
  } else if (out.state != HostState::kOk && out.state != HostState::kDrifting) {
    line += std::string(HostStateName(out.state)) + " (" + out.reason + "), ";
  }
  if (out.headline.empty()) {
    line += FormatPercent(out.ports.utilization) + " of " + std::to_string(capacity_) + " ports";
  } else {
    const SeriesStatus* d = nullptr;
    for (const SeriesStatus& s : out.destinations) {
      if (s.key == out.headline) d = &s;
    }
    line += "4-tuples toward " + out.headline + " at " + FormatPercent(d->utilization) + " of " +
            std::to_string(capacity_);
  }
  if (fit->trend.valid) {
    line += ", " + FormatRate(fit->trend.pct_per_hour);
    // A sawtooth rises faster than that between releases: say which rate this is.
    if (fit->minima) {
      line += " net (troughs rising across " + std::to_string(fit->troughs - 1) + " releases)";
    }
    if (fit->sustained && fit->forecast.finite) {
      line += ", full in " + FormatDuration(fit->forecast.eta_s);
    }
  }
  const bool has_process = !out.driver_process.empty();
  const bool has_destination = !out.driver_destination.empty() && out.headline.empty();
  if (has_process && has_destination) {
    line += ", driven by " + out.driver_process + " -> " + out.driver_destination;
  } else if (has_process) {
    line += ", driven by " + out.driver_process;
  } else if (has_destination) {
    line += ", driven by connections to " + out.driver_destination;
  }

  out.time_wait_s = tw_.seconds;
  out.time_wait_source = tw_.source;
  out.churn = churn_.Estimate(tw_.seconds, capacity_);
  WorstChurn(&out.churn_key, &out.churn_worst);
  out.at_risk = at_risk_;
  out.trend_page = trend_page_ && out.state == HostState::kCritical;
  if (out.trend_page) out.page_key = page_key_;
  out.clock_skew_ms = clock_skew_ms_;
  out.clock_corrections = clock_corrections_;
  // Churn is worth a sentence once TIME_WAIT is a real share of a busy range.
  const ChurnEstimate& cw = out.churn_worst;
  if (cw.valid && cw.time_wait > 0 && cw.steady_utilization >= 0.5 * options.churn_margin) {
    out.churn_explanation = HeadroomSentence(out.churn_key, cw, tw_);
    if (out.churn_key.empty()) {
      // Name where the host's churn goes when one destination has most of its TIME_WAIT.
      for (const SeriesStatus& d : out.destinations) {
        if (d.present && 2 * static_cast<double>(d.time_wait) >= cw.time_wait) {
          const std::string host_part = "churn on this host";
          out.churn_explanation.insert(host_part.size(), " (mostly toward " + d.key + ")");
          break;
        }
      }
    }
    const std::string remedy = RemedySentence(cw, tw_, settings_, capacity_);
    if (!remedy.empty()) out.churn_explanation += "; " + remedy;
    const std::string owner = ChurnOwner(out);
    if (!owner.empty()) {
      out.churn_process = owner;
      out.churn_process_inferred = true;
      out.churn_explanation += " (likely " + owner + ", inferred)";
    }
    line += "; " + out.churn_explanation;
  }
  out.explanation = std::move(line);
  return out;
}

std::string HostAnalyzer::ChurnOwner(const HostStatus& out) const {
  // The owner of TIME_WAIT is gone. The program the agent saw with live connections toward the
  // destination under the worst churn, over recent reports, is the likeliest to be opening and
  // closing them. For the host's range that is the destination holding most of its TIME_WAIT.
  std::string key = out.churn_key;
  if (key.empty()) {
    uint32_t most = 0;
    for (const SeriesStatus& d : out.destinations) {
      if (d.present && d.time_wait > most) {
        most = d.time_wait;
        key = d.key;
      }
    }
  }
  auto it = key.empty() ? destinations_.end() : destinations_.find(key);
  if (it != destinations_.end() && it->second.owners && !it->second.owners->Top().empty()) {
    return it->second.owners->Top();
  }
  // An agent that names owners but none toward this destination saw only TIME_WAIT there:
  // unknown, rather than a guess from elsewhere.
  for (const auto& [k, d] : destinations_) {
    if (d.owners && d.series.last_ms() == last_sample_ms_) return std::string();
  }
  // An agent that names no owner (older): the process holding the most live ephemeral
  // connections.
  const SeriesStatus* best = nullptr;
  for (const SeriesStatus& p : out.processes) {
    if (!p.present || p.key == kUnattributedProcess || p.ports <= p.time_wait) continue;
    if (best == nullptr || p.ports - p.time_wait > best->ports - best->time_wait) best = &p;
  }
  return best == nullptr ? std::string() : best->key;
}

size_t HostAnalyzer::MemoryBytes() const {
  size_t bytes = sizeof(*this) + host_.capacity() + ports_.MemoryBytes() - sizeof(ports_);
  for (const DetailMap* map : {&destinations_, &processes_}) {
    // Buckets of the hash table, plus one node per entry (key, value and the next pointer).
    bytes += map->bucket_count() * sizeof(void*);
    for (const auto& [key, d] : *map) {
      bytes += sizeof(std::pair<const std::string, Detail>) + sizeof(void*) +
               (key.capacity() > 15 ? key.capacity() + 1 : 0) + d.series.MemoryBytes() -
               sizeof(d.series) + (d.churn ? sizeof(ChurnTracker) : 0) +
               (d.owners ? sizeof(OwnerTally) + d.owners->HeapBytes() : 0);
    }
  }
  bytes += counters_.bucket_count() * sizeof(void*) +
           counters_.size() * (sizeof(std::pair<const std::string, uint64_t>) + sizeof(void*));
  return bytes;
}

}  // namespace portwatch::analysis
