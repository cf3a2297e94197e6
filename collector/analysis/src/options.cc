#include "portwatch/analysis/options.h"

#include <cmath>

namespace portwatch::analysis {
namespace {

int64_t ScaleMs(int64_t ms, double factor) {
  return static_cast<int64_t>(std::llround(static_cast<double>(ms) * factor));
}

Status Bad(const std::string& what) { return Status::Error("analysis option " + what); }

}  // namespace

Options Options::Scaled(double factor) const {
  Options o = *this;
  o.host.bucket_ms = std::max<int64_t>(1, ScaleMs(host.bucket_ms, factor));
  o.detail.bucket_ms = std::max<int64_t>(1, ScaleMs(detail.bucket_ms, factor));
  o.host.season_slot_ms = std::max<int64_t>(1, ScaleMs(host.season_slot_ms, factor));
  o.detail.season_slot_ms = std::max<int64_t>(1, ScaleMs(detail.season_slot_ms, factor));
  o.season_period_ms = std::max<int64_t>(1, ScaleMs(season_period_ms, factor));
  o.min_fit_span_ms = ScaleMs(min_fit_span_ms, factor);
  o.drift_horizon_ms = ScaleMs(drift_horizon_ms, factor);
  o.min_growth_pct_per_h = min_growth_pct_per_h / factor;  // a rate: per compressed hour
  o.min_dwell_ms = ScaleMs(min_dwell_ms, factor);
  o.gap_reset_ms = ScaleMs(gap_reset_ms, factor);
  o.critical_hold_ms = ScaleMs(critical_hold_ms, factor);
  o.critical_eta_ms = ScaleMs(critical_eta_ms, factor);
  o.short_window_ms = ScaleMs(short_window_ms, factor);
  o.long_window_ms = ScaleMs(long_window_ms, factor);
  o.recent_window_ms = ScaleMs(recent_window_ms, factor);
  o.silent_after_ms = ScaleMs(silent_after_ms, factor);
  o.detail_expiry_ms = ScaleMs(detail_expiry_ms, factor);
  // max_clock_skew_ms is not scaled: agent clocks are wrong in physical time.
  o.time_scale = time_scale * factor;
  return o;
}

Status Options::Validate() const {
  for (const SeriesOptions* s : {&host, &detail}) {
    const char* name = s == &host ? "host" : "detail";
    if (s->bucket_ms <= 0)
      return Bad(std::string(name) + ".bucket_ms must be positive (e.g. 60000)");
    if (s->window_buckets < 2 * min_fit_points) {
      return Bad(std::string(name) + ".window_buckets must hold at least twice min_fit_points (" +
                 std::to_string(2 * min_fit_points) + "); raise it or lower min_fit_points");
    }
    if (s->season_slots > 0) {
      if (s->season_slot_ms <= 0 || season_period_ms / s->season_slot_ms < 4) {
        return Bad(std::string(name) +
                   ".season_slot_ms must split season_period_ms into at least 4 slots "
                   "(defaults 900000 and 86400000), or set season_slots to 0");
      }
      if (s->season_slots <= season_period_ms / s->season_slot_ms + season_min_points) {
        return Bad(std::string(name) + ".season_slots must hold a period plus season_min_points (" +
                   std::to_string(season_period_ms / s->season_slot_ms + season_min_points) +
                   " slots), or be 0 to turn the seasonal baseline off");
      }
    }
  }
  if (!(season_max_extrapolation > 0)) {
    return Bad("season_max_extrapolation must be positive (e.g. 6)");
  }
  if (!(minima_max_extrapolation > 0)) {
    return Bad("minima_max_extrapolation must be positive (e.g. 3)");
  }
  if (min_fit_points < 8) return Bad("min_fit_points must be at least 8 to bound a slope");
  if (!(confidence_z > 0)) return Bad("confidence_z must be positive (1.96 for 95%)");
  if (!(interval_z > 0)) return Bad("interval_z must be positive (1.645 for a 90% interval)");
  if (!(max_extrapolation > 0)) return Bad("max_extrapolation must be positive (e.g. 2)");
  if (!(leave_relax >= 1)) return Bad("leave_relax must be at least 1 (1.5 gives hysteresis)");
  if (enter_evaluations == 0 || leave_evaluations == 0) {
    return Bad("enter_evaluations and leave_evaluations must be at least 1");
  }
  if (!(exhausted_leave_utilization <= exhausted_enter_utilization) ||
      !(exhausted_enter_utilization > 0) || exhausted_enter_utilization > 1) {
    return Bad(
        "exhausted_enter_utilization must be in (0, 1] and not below "
        "exhausted_leave_utilization (defaults 0.98 and 0.95)");
  }
  if (silent_after_ms <= 0) return Bad("silent_after_ms must be positive (e.g. 300000)");
  if (!(churn_margin > 0) || churn_margin > 1 || !(churn_leave_factor > 0) ||
      churn_leave_factor > 1) {
    return Bad("churn_margin and churn_leave_factor must be in (0, 1] (defaults 0.85 and 0.95)");
  }
  if (max_clock_skew_ms <= 0) return Bad("max_clock_skew_ms must be positive (e.g. 600000)");
  if (!(short_window_ms > 0) || !(long_window_ms >= 2 * short_window_ms) ||
      !(recent_window_ms > 0)) {
    return Bad(
        "short_window_ms, long_window_ms and recent_window_ms must be positive and the long "
        "window at least twice the short (defaults 1800000, 21600000 and 3600000)");
  }
  if (window_min_points < 4) return Bad("window_min_points must be at least 4 (e.g. 6)");
  if (critical_leave_evaluations == 0 || stop_evaluations == 0) {
    return Bad("critical_leave_evaluations and stop_evaluations must be at least 1 (e.g. 2, 3)");
  }
  if (shift_window_buckets == 0) return Bad("shift_window_buckets must be at least 1 (e.g. 5)");
  return Status::Ok();
}

}  // namespace portwatch::analysis
