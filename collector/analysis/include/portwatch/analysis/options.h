// Tunables of drift analysis, with the defaults the collector runs with. Every duration is in
// milliseconds of the samples' own clock, so a test or a drill can compress time with Scaled().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "portwatch/status.h"

namespace portwatch::analysis {

/// How one kind of series is stored: samples are averaged into fixed buckets of `bucket_ms`, and
/// the newest `window_buckets` buckets are kept in a ring. Memory per series is 4 bytes a bucket.
struct SeriesOptions {
  int64_t bucket_ms = 60'000;
  uint32_t window_buckets = 1440;
  /// The seasonal baseline's ring (see season.h): slot means of `season_slot_ms`, the newest
  /// `season_slots` kept, 2 bytes a slot. 0 slots: no seasonal baseline for this kind.
  int64_t season_slot_ms = 900'000;
  uint32_t season_slots = 0;
};

/// All thresholds of the analysis. The defaults suit agents reporting every 15 s to 60 s and leaks
/// that take hours to days to exhaust a range; see collector/analysis/README.md for the reasoning.
struct Options {
  /// The host's own series (ephemeral ports in use): 2-minute buckets, 48 hours. The window
  /// bounds how far ahead a forecast can reach (max_extrapolation times it) and holds the last
  /// two daily peaks, which is how a daily cycle's rise is told from a leak.
  /// The seasonal ring: 15-minute slots over 8 days (a day's offsets against the 7 before it),
  /// 1536 bytes.
  SeriesOptions host{120'000, 1440, 900'000, 768};
  /// Per-destination and per-process series (attribution and 4-tuple exhaustion): 5-minute
  /// buckets, 6 hours. Coarser, because a host has up to 2K of them.
  /// Their seasonal ring keeps a day: 30-minute slots over 30 hours, 120 bytes.
  SeriesOptions detail{300'000, 72, 1'800'000, 60};

  // --- Trend fit -------------------------------------------------------------------------------
  /// A trend needs at least this many closed buckets after the last change point...
  uint32_t min_fit_points = 12;
  /// ...covering at least this much time.
  int64_t min_fit_span_ms = 20 * 60'000;
  /// Normal quantile of the significance test of a rise: the slope's lower bound at it must be
  /// above 0 (1.96: a one-sided 97.5% test). It keeps its own z, apart from the forecast's
  /// interval: a wider test keeps false alarms down, and the interval is what an operator reads.
  /// Both are calibrated for autocorrelated noise (effective sample size, Student's t).
  double confidence_z = 1.96;
  /// Normal quantile of the reported forecast interval (eta_early_s, eta_late_s) and of the
  /// season-adjusted forecast's: 1.645, a nominal 90% interval.
  double interval_z = 1.645;

  // --- Drifting ---------------------------------------------------------------------------------
  /// Only exhaustion forecast within this horizon is drift.
  int64_t drift_horizon_ms = 48 * 3'600'000LL;
  /// A forecast may reach at most this multiple of the time span the trend was measured over
  /// (with 1.5 the data must cover 40% of the way to exhaustion). This keeps the first rise of
  /// a daily cycle, before any history shows it come back down, from being called a leak.
  double max_extrapolation = 1.5;
  /// Growth slower than this (percent of capacity per hour) is never drift.
  double min_growth_pct_per_h = 0.5;
  /// To stay drifting, the conditions are relaxed by this factor (horizon and extrapolation times
  /// it, minimum growth divided by it) and the rise need not be significant: hysteresis.
  double leave_relax = 1.5;
  /// Consecutive bucket evaluations with drift evidence before a host turns drifting.
  uint32_t enter_evaluations = 3;
  /// Consecutive bucket evaluations without (relaxed) evidence before it stops drifting.
  uint32_t leave_evaluations = 10;
  /// A host stays at least this long in drifting, critical or exhausted once it got there.
  int64_t min_dwell_ms = 15 * 60'000;

  // --- Tiers: page (critical) and ticket (drifting), as multiwindow burn-rate alerts -----------
  /// The page's short window: the newest buckets within this span, after the last change point
  /// (a step is a new level, not growth). Critical needs it, and the long window, to forecast
  /// exhaustion within critical_eta_ms; it is short so that the page clears within a few buckets
  /// of a rise stopping. 30 minutes is the Site Reliability Workbook's short window for a 6-hour
  /// page window (1/12), and the shortest that holds enough 2-minute buckets (15) for a robust
  /// slope; a detail series' 5-minute buckets give it 6.
  int64_t short_window_ms = 30 * 60'000;
  /// The page's long window: the newest buckets within this span, across change points. Its rate
  /// is the average rise over the window (newest level minus oldest, from medians of a few
  /// buckets), as a burn rate is: a burst or a step up is diluted over 6 hours instead of
  /// restarting the window, so neither pages unless it is many times the room left.
  int64_t long_window_ms = 6 * 3'600'000LL;
  /// The ticket's recent window: drifting clears once the growth over this span (after the last
  /// change point) is significantly below half the rise that raised it: the rise has stopped.
  /// An hour: long enough to bound the slope of a 1.5-4 %/h leak under 1% noise tightly enough
  /// to tell it from a stopped one, short enough to clear about an hour after it stopped.
  int64_t recent_window_ms = 3'600'000;
  /// Fewest buckets a window needs before it forecasts.
  uint32_t window_min_points = 6;
  /// The trend's page (critical) ends after this many consecutive host buckets in which either
  /// page window forecasts no exhaustion within critical_eta_ms * leave_relax: hysteresis of
  /// both time and level, so an ETA hovering at the hour does not page and clear every bucket.
  uint32_t critical_leave_evaluations = 2;
  /// Drifting ends after this many consecutive host buckets in which the recent window shows the
  /// growth stopped (no min_dwell_ms): the quick reset. The slow rule (leave_evaluations without
  /// sustained evidence, and min_dwell_ms) still applies when the window cannot tell.
  uint32_t stop_evaluations = 3;

  // --- Seasonal baseline (season.h) ----------------------------------------------------------
  /// The period of the season: a day. The baseline at a time of day is the highest of the up to
  /// 7 earlier periods the ring holds at that time, so it covers the day-of-week pattern too.
  int64_t season_period_ms = 24 * 3'600'000LL;
  /// Once a period of history exists, a season-adjusted forecast may reach this multiple of the
  /// span its growth was measured over: the season explains the cycle, so a leak on top of it is
  /// called at about 1 / (1 + this) of its way (6: 14%).
  double season_max_extrapolation = 6;
  /// Season slots needed to measure a season-adjusted growth.
  uint32_t season_min_points = 8;

  // --- Change points (level shifts: deploys, restarts) -----------------------------------------
  /// Buckets on each side of a candidate shift whose medians are compared.
  uint32_t shift_window_buckets = 5;
  /// A shift must exceed this many standard errors of the median difference (noise from the
  /// spread of first differences)...
  double shift_sigmas = 6.0;
  /// ...and this share of capacity...
  double shift_min_fraction = 0.02;
  /// ...and this many ports.
  uint32_t shift_min_ports = 8;
  /// A gap in the data longer than this restarts the trend (the host may have rebooted).
  int64_t gap_reset_ms = 30 * 60'000;

  // --- Soft resets and the trend of minima (envelope.h) ------------------------------------
  /// A sawtooth's trend of minima (troughs rising across at least three teeth separated by
  /// downward steps) may forecast at most this multiple of the time from its first trough: the
  /// repeated teeth show the net growth, so it may reach further than a raw trend (3: a leak is
  /// called at about a quarter of its way, once its third trough is seen).
  double minima_max_extrapolation = 3;

  // --- Exhausted, critical, silent -------------------------------------------------------------
  /// Utilisation (host ports, or a destination's 4-tuples) at which the host is exhausted at once.
  double exhausted_enter_utilization = 0.98;
  /// Utilisation below which it may leave exhausted (after min_dwell_ms).
  double exhausted_leave_utilization = 0.95;
  /// A host stays critical this long after the last increase of a critical counter.
  int64_t critical_hold_ms = 15 * 60'000;
  /// A host whose short and long windows both forecast exhaustion closer than this is critical
  /// (the trend's page; 0 disables it).
  int64_t critical_eta_ms = 3'600'000;
  /// No sample for this long (collector clock) makes a host silent.
  int64_t silent_after_ms = 5 * 60'000;
  /// A destination or process series not reported (outside the host's top-K) for this long is
  /// forgotten.
  int64_t detail_expiry_ms = 30 * 60'000;
  /// Counters whose increase marks a host critical at once: the ones that mean an outgoing TCP
  /// connect failed or TIME_WAIT overflowed. Windows: 4227 (no local port free toward a
  /// destination: TIME_WAIT reuse) and 4231 (all ephemeral ports in use). Linux:
  /// TCPTimeWaitOverflow (TIME_WAIT sockets dropped at tcp_max_tw_buckets). Accept-queue
  /// overflows (TcpExt.ListenOverflows) and UDP port exhaustion (Tcpip.4266) are not TCP
  /// ephemeral-port trouble and are left to other alerts.
  std::vector<std::string> critical_counters{"Tcpip.4227", "Tcpip.4231",
                                             "TcpExt.TCPTimeWaitOverflow"};
  /// Counters whose increase means a connect failed for lack of ports: exhausted at once.
  /// Tcpip.4231 is Windows' "all ephemeral ports in use".
  std::vector<std::string> exhausted_counters{"Tcpip.4231"};

  // --- Churn (TIME_WAIT) -------------------------------------------------------------------
  /// A host (or its 4-tuples toward one destination) whose steady occupancy at today's churn is
  /// at least this share of capacity is "at risk": drifting, never ok, whatever its trend.
  double churn_margin = 0.85;
  /// Also at risk: churn growing so that its steady occupancy (already at least half the range)
  /// reaches capacity within this long. Physical time (TIME_WAIT is): not scaled.
  int64_t churn_forecast_ms = 30 * 60'000;
  /// It stops being at risk below churn_margin times this (hysteresis).
  double churn_leave_factor = 0.95;
  /// Steady occupancy at or above this share of capacity for two samples in a row is critical:
  /// today's churn does not fit, connects fail within one TIME_WAIT duration.
  double churn_critical_utilization = 1.0;

  // --- Agent clocks ------------------------------------------------------------------------------
  /// An agent timestamp further than this ahead of the collector's receipt time is replaced by
  /// the receipt time (and counted); a backward step larger than this re-bases the host's clock
  /// onto receipt time. Physical time: not scaled by Scaled(). Behind receipt time is accepted
  /// (a spooled backlog is delivered late).
  int64_t max_clock_skew_ms = 10 * 60'000;

  /// Set by Scaled(): the compression factor of the sample clock (1 = real time). TIME_WAIT lasts
  /// physical seconds, so on compressed time a rise made of TIME_WAIT is judged by the churn
  /// model only, never by the (compressed) trend.
  double time_scale = 1.0;

  // --- Explanation -----------------------------------------------------------------------------
  /// A destination or process is named as the driver only if its own growth is at least this
  /// share of the host's.
  double driver_min_share = 0.2;

  /// The same options with every duration (bucket widths included) multiplied by `factor`:
  /// Scaled(1.0 / 60) makes an hour a minute, for drills and tests on compressed time.
  Options Scaled(double factor) const;
  /// Checks that the options make sense; the message names the bad option and what to set.
  Status Validate() const;
};

}  // namespace portwatch::analysis
