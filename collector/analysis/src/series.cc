#include "portwatch/analysis/series.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace portwatch::analysis {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

uint16_t Saturate(uint64_t v) { return static_cast<uint16_t>(std::min<uint64_t>(v, 0xFFFE)); }

// Standard error of the difference of two medians of m normal values each, per unit of noise:
// a median's is sqrt(pi/2)/sqrt(m).
double MedianDifferenceError(size_t m) { return 1.2533 * std::sqrt(2.0 / static_cast<double>(m)); }

// One candidate trend: the last `len` points, its slope, and the drift tests on it.
struct Candidate {
  size_t len = 0;
  SlopeEstimate est;
  double level = 0;
  size_t level_len = 0;  // the newest points the level (and rate) were measured on
  double span_buckets = 0;
  bool evidence = false;
  bool sustained = false;
};

// Index of the largest jump up (or down) between consecutive points within m of c.
size_t LocateStep(const Point* pts, size_t n, size_t c, size_t m, bool up) {
  const size_t from = std::max<size_t>(1, c > m ? c - m + 1 : 1);
  const size_t to = std::min(n - 1, c + m - 1);
  size_t best = c;
  double best_jump = -kNever;
  for (size_t j = from; j <= to; ++j) {
    const double jump = (pts[j].x - pts[j - 1].x) * (up ? 1 : -1);
    if (jump > best_jump) {
      best_jump = jump;
      best = j;
    }
  }
  return best;
}

constexpr size_t kLocalPoints = 256;

// Dyadic suffixes: the whole segment, its recent half, quarter, ... A leak that began recently
// shows in a short suffix long before it dominates the whole window; 12 levels cover any ring.
constexpr size_t kMaxLevels = 12;

// For each prefix length in `ends` (ascending), the m-th highest value among the first `end`
// points (or the lowest, if fewer): a level held for about m buckets, so one spike bucket does
// not count. One pass keeping the m highest seen so far.
void HeldHighs(const Point* pts, const size_t* ends, size_t count, size_t m, double* out) {
  m = std::clamp<size_t>(m, 1, 16);
  std::array<double, 16> top{};  // ascending; top[0] is the m-th highest once full
  size_t filled = 0;
  size_t i = 0;
  for (size_t e = 0; e < count; ++e) {
    for (; i < ends[e]; ++i) {
      const double x = pts[i].x;
      if (filled < m) {
        size_t j = filled++;
        for (; j > 0 && top[j - 1] > x; --j) top[j] = top[j - 1];
        top[j] = x;
      } else if (x > top[0]) {
        size_t j = 0;
        for (; j + 1 < m && top[j + 1] < x; ++j) top[j] = top[j + 1];
        top[j] = x;
      }
    }
    out[e] = filled == 0 ? -kNever : top[0];
  }
}

}  // namespace

TrackedSeries::TrackedSeries(uint32_t window_buckets)
    : ring_(std::max<uint32_t>(window_buckets, 2)) {}

TrackedSeries::Slot& TrackedSeries::SlotFor(int64_t bucket) {
  const int64_t n = static_cast<int64_t>(ring_.size());
  return ring_[static_cast<size_t>(((bucket % n) + n) % n)];
}

TrackedSeries::AddResult TrackedSeries::Add(int64_t unix_ms, uint32_t ports, uint32_t time_wait,
                                            const SeriesOptions& series, const Options& options) {
  if (unix_ms < last_ms_) return AddResult::kRejected;
  season_.Add(unix_ms, ports, series);
  const int64_t bucket = FloorDiv(unix_ms, series.bucket_ms);
  AddResult result = AddResult::kSameBucket;
  if (newest_bucket_ == kNoBucket || bucket != newest_bucket_) {
    if (newest_bucket_ != kNoBucket) {
      // Buckets skipped over hold no data: mark them missing (at most one full turn of the ring).
      const int64_t skipped =
          std::min<int64_t>(bucket - newest_bucket_ - 1, static_cast<int64_t>(ring_.size()));
      for (int64_t b = bucket - skipped; b < bucket; ++b) SlotFor(b) = Slot{};
      // A long silence may hide a reboot or a redeploy: what came before says little about the
      // trend after, so the fit starts again.
      if ((bucket - newest_bucket_) * series.bucket_ms > options.gap_reset_ms) {
        // A soft reset: the segment that ended is remembered at the next refit.
        if (!pending_gap_) pending_from_bucket_ = segment_start_bucket_;
        pending_gap_ = true;
        pending_to_bucket_ = newest_bucket_ + 1;
        segment_start_bucket_ = bucket;
      }
      result = AddResult::kBucketClosed;
    } else {
      segment_start_bucket_ = bucket;
    }
    newest_bucket_ = bucket;
    open_sum_ = open_time_wait_sum_ = 0;
    open_count_ = 0;
  }
  open_sum_ += ports;
  open_time_wait_sum_ += time_wait;
  ++open_count_;
  Slot& slot = SlotFor(bucket);
  // Round to the nearest port: half a port of resolution is far below any trend worth reporting.
  slot.ports = Saturate((open_sum_ + open_count_ / 2) / open_count_);
  slot.time_wait = Saturate((open_time_wait_sum_ + open_count_ / 2) / open_count_);
  last_ms_ = unix_ms;
  last_ports_ = ports;
  last_time_wait_ = time_wait;
  return result;
}

void TrackedSeries::Gather(Workspace* ws) const {
  GatherRange(segment_start_bucket_, newest_bucket_, &ws->ports, &ws->time_wait);
}

void TrackedSeries::GatherRange(int64_t from, int64_t to, std::vector<Point>* ports,
                                std::vector<Point>* time_wait) const {
  ports->clear();
  if (time_wait != nullptr) time_wait->clear();
  const int64_t oldest = newest_bucket_ - static_cast<int64_t>(ring_.size()) + 1;
  from = std::max(oldest, from);
  to = std::min(to, newest_bucket_);
  const int64_t n = static_cast<int64_t>(ring_.size());
  // One division for the first slot, then a wrapping index: this loop runs over the whole ring.
  size_t slot_index = static_cast<size_t>(((from % n) + n) % n);
  for (int64_t b = from; b < to; ++b) {
    const Slot& slot = ring_[slot_index];
    if (++slot_index == ring_.size()) slot_index = 0;
    if (slot.ports == kMissing) continue;
    // A bucket's mean stands for its middle.
    const double t = static_cast<double>(b - newest_bucket_) + 0.5;
    ports->push_back({t, static_cast<double>(slot.ports)});
    if (time_wait != nullptr) time_wait->push_back({t, static_cast<double>(slot.time_wait)});
  }
}

void TrackedSeries::Refit(uint32_t capacity, const SeriesOptions& series, const Options& options,
                          Workspace* ws) {
  if (newest_bucket_ == kNoBucket) return;
  if (pending_gap_) {
    pending_gap_ = false;
    GatherRange(pending_from_bucket_, pending_to_bucket_, &ws->ports, nullptr);
    RecordReset(ws->ports.data(), ws->ports.size(), pending_from_bucket_, pending_to_bucket_,
                Boundary::kGap, series, options, ws);
  }
  FitSegment(capacity, series, options, ws);
  ApplySoftReset(capacity, series, options, ws);
}

void TrackedSeries::FitSegment(uint32_t capacity, const SeriesOptions& series,
                               const Options& options, Workspace* ws) {
  Gather(ws);
  std::vector<Point>& pts = ws->ports;

  // Change point: the newest position that now has a full window after it. Every position gets
  // this test exactly once, when it becomes the newest such candidate.
  const size_t m = options.shift_window_buckets;
  // The smallest change in level that is more than noise: for level shifts, and for how far a
  // rise must pass an earlier high to count as new.
  // Noise and the local slope are measured on the newest kLocalPoints only: they are local
  // properties, and this keeps a refit's cost dominated by the trend fit itself.
  // The noise of a difference of window medians is taken from first differences (white noise)
  // or from the differences of the series' own block medians, whichever is larger: noise that
  // wanders (autocorrelated) has small first differences, and read by them alone its wander
  // looked like steps that restarted the fit every few hours.
  const size_t noise_n = std::min(pts.size(), kLocalPoints);
  const Point* local = pts.data() + (pts.size() - noise_n);
  const double median_difference_noise =
      std::max(DifferenceNoise(local, noise_n, &ws->scratch) * MedianDifferenceError(m),
               BlockDifferenceNoise(local, noise_n, m, &ws->scratch));
  const double shift_threshold =
      std::max({options.shift_sigmas * median_difference_noise,
                options.shift_min_fraction * capacity, static_cast<double>(options.shift_min_ports)});
  shift_threshold_ = shift_threshold;
  if (m > 0 && pts.size() >= 2 * m) {
    const size_t c = pts.size() - m;
    // The trend before the candidate, so a steady rise is not mistaken for a step.
    double slope = 0;
    const size_t from = c > kLocalPoints ? c - kLocalPoints : 0;
    if (c - from >= 4) {
      slope = HalfLagSlope(pts.data() + from, c - from, 0, &ws->scratch).slope;
    }
    const LevelShift shift =
        TestLevelShift(pts.data(), pts.size(), c, m, slope, shift_threshold, &ws->scratch);
    if (shift.found) {
      // The medians flip as soon as most of the window after is past the step, a few buckets
      // before the candidate reaches it: the step itself is the largest jump in its direction
      // near the candidate.
      const size_t step = LocateStep(pts.data(), pts.size(), c, m, shift.size > 0);
      const int64_t ended_from_bucket = segment_start_bucket_;
      segment_start_bucket_ = newest_bucket_ + static_cast<int64_t>(std::floor(pts[step].t));
      // A step made of TIME_WAIT is a churn storm starting or ending, not a deploy: it still
      // starts a new segment (the level is new), but is counted apart, and the host's churn
      // model, not this trend, judges it.
      // Judged like the ports: after the TIME_WAIT count's own trend before the candidate.
      double tw_slope = 0;
      if (c - from >= 4) {
        tw_slope = HalfLagSlope(ws->time_wait.data() + from, c - from, 0, &ws->scratch).slope;
      }
      const LevelShift tw = TestLevelShift(ws->time_wait.data(), ws->time_wait.size(), c, m,
                                           tw_slope, 0, &ws->scratch);
      const bool churn_step =
          tw.size * shift.size > 0 && std::fabs(tw.size) >= 0.5 * std::fabs(shift.size);
      // A soft reset: what the ended segment held is remembered (envelope.h).
      RecordReset(
          pts.data(), step, ended_from_bucket, segment_start_bucket_,
          churn_step ? Boundary::kChurn : (shift.size > 0 ? Boundary::kUp : Boundary::kDown),
          series, options, ws);
      pts.erase(pts.begin(), pts.begin() + static_cast<std::ptrdiff_t>(step));
      ws->time_wait.erase(ws->time_wait.begin(),
                          ws->time_wait.begin() + static_cast<std::ptrdiff_t>(step));
      ++(churn_step ? fit_.churn_steps : fit_.level_shifts);
    }
  }
  fit_.segment_start_ms = segment_start_bucket_ * series.bucket_ms;
  FitWindows(capacity, series, options, ws);  // the alerting tiers' windows (end of file)
  fit_.trend = Trend{};
  fit_.forecast = Forecast{};
  fit_.evidence = fit_.sustained = fit_.growing = fit_.seasonal = false;
  // The season's view, on its own coarse ring (it does not need the fine points).
  const SeasonVerdict season =
      season_.Evaluate(capacity, shift_threshold, fit_.segment_start_ms, last_ms_, series, options,
                       &ws->season, &ws->scratch);
  fit_.season_available = season.available;
  fit_.season_offset = season.offset;
  fit_.season_days = season.days;
  // Without a period of history a rise may be the first half of a cycle (see below).
  const bool young = series.season_slots > 0 && !season.available;
  const double max_extrapolation = options.max_extrapolation;
  bool young_cycle_fitted = false, young_cycle = false;

  const size_t n = pts.size();
  const double bucket_s = static_cast<double>(series.bucket_ms) / 1000.0;
  const double buckets_per_hour = 3600.0 / bucket_s;
  const double min_span_buckets = static_cast<double>(options.min_fit_span_ms) / 1000.0 / bucket_s;
  if (n < options.min_fit_points || n < 2) return;
  const double span_all = pts.back().t - pts.front().t + 1;
  if (span_all < min_span_buckets) return;

  // Position of the newest sample, in the points' time axis: forecasts start from now.
  const double t_now = static_cast<double>(last_ms_ - newest_bucket_ * series.bucket_ms) /
                       static_cast<double>(series.bucket_ms);

  // Where the series is now, robustly: the median of the newest few buckets.
  const size_t recent_n = std::min(n, std::max<size_t>(m, 1));
  ws->scratch.resize(recent_n);
  for (size_t i = 0; i < recent_n; ++i) ws->scratch[i] = pts[n - recent_n + i].x;
  const double recent_level = MedianInPlace(ws->scratch.data(), recent_n);

  std::array<Candidate, kMaxLevels> levels;
  size_t level_count = 0;
  for (size_t len = n; len >= options.min_fit_points && level_count < kMaxLevels; len /= 2) {
    Candidate& c = levels[level_count++];
    c.len = len;
    const Point* first = pts.data() + (n - len);
    c.est = HalfLagSlope(first, len, options.confidence_z, &ws->scratch, options.interval_z);
    c.span_buckets = pts.back().t - first->t + 1;
    if (len < 2) break;
  }

  // The highest level held before each suffix began.
  std::array<size_t, kMaxLevels> prefix_ends{};
  std::array<double, kMaxLevels> held_high{};
  for (size_t k = 0; k < level_count; ++k) prefix_ends[k] = n - levels[k].len;
  HeldHighs(pts.data(), prefix_ends.data(), level_count, m, held_high.data());
  // Soft reset: the highs held by segments a reset ended within the window still count (a
  // return to a level held before a downward step is no new high).
  const double carried_high =
      history_.HighSince(last_ms_ - static_cast<int64_t>(ring_.size()) * series.bucket_ms);

  const double cap = static_cast<double>(capacity);
  // Exhausted is declared at this utilisation: forecasts are of reaching it.
  const double threshold = options.exhausted_enter_utilization * cap;
  const double horizon_s = static_cast<double>(options.drift_horizon_ms) / 1000.0;
  const double relax = options.leave_relax;
  int chosen = -1;
  int chosen_strength = -1;  // 2: evidence, 1: sustained
  double chosen_low = -kNever;
  for (size_t k = 0; k < level_count; ++k) {
    Candidate& c = levels[k];
    // A trend that is clearly slowing down is not extrapolated at its old speed: when a more
    // recent suffix's upper bound is below this suffix's rate, the slowest such suffix speaks
    // for it (its rate, and its level). This is what stops the upper half of a daily cycle's
    // rise from being projected to exhaustion. The suffixes after k are still untouched here.
    size_t speaker = k;
    for (size_t j = k + 1; j < level_count; ++j) {
      if (levels[j].est.high < c.est.slope &&
          (speaker == k || levels[j].est.high < levels[speaker].est.high)) {
        speaker = j;
      }
    }
    const size_t level_len = levels[speaker].len;
    c.est = levels[speaker].est;
    c.level_len = level_len;
    c.level =
        RobustLevelAt(pts.data() + (n - level_len), level_len, c.est.slope, t_now, &ws->scratch);
    if (capacity == 0 || c.est.slope <= 0) continue;
    const double pct = c.est.slope * buckets_per_hour / cap * 100;
    // The tests of drift use the mean's arrival at the exhaustion threshold (no noise margin:
    // that is measured once, for the forecast reported).
    const double eta_s = std::max(0.0, threshold - c.level) / c.est.slope * bucket_s;
    const double span_s = c.span_buckets * bucket_s;
    const bool long_enough = c.span_buckets >= min_span_buckets;
    // A rise that has not clearly passed a level the series already held (for a few buckets)
    // earlier in the segment, and came back from, repeats a known cycle: not evidence of a
    // leak. A leak's level is the highest it has been.
    const bool new_high = (c.len == n || recent_level > held_high[k] + shift_threshold) &&
                          recent_level > carried_high + shift_threshold;
    c.evidence = long_enough && new_high && c.est.low > 0 && pct >= options.min_growth_pct_per_h &&
                 eta_s <= horizon_s && eta_s <= max_extrapolation * span_s;
    c.sustained = long_enough && pct >= options.min_growth_pct_per_h / relax &&
                  eta_s <= horizon_s * relax && eta_s <= max_extrapolation * relax * span_s;
    // Once the season is known, a level it explains (no higher than earlier days at this time)
    // is no leak, however steep today's rise: Monday morning, a daily peak.
    // Before a period of history exists nothing has shown the series come back down: a rise
    // that one daily cycle explains clearly better than a line, and whose cycle peaks below
    // capacity, may be the first half of that cycle (a first morning), and gives no evidence.
    // A leak fits a line better, or only a cycle far too large to be one.
    if (young && (c.evidence || c.sustained)) {
      if (!young_cycle_fitted) {
        young_cycle_fitted = true;
        // On the season ring: it holds the whole first day, the fine window may not.
        const CycleFit cf = season_.FitHistory(series, options, &ws->season);
        // Clearly better: the line's extra residual is at least 10 times the cycle's residual
        // variance (an F test of the one more parameter, p < 0.2% under independent noise), so
        // a straight leak, which a short arc of a large cycle can mimic, is not vetoed.
        const double dof = static_cast<double>(ws->season.size() > 3 ? ws->season.size() - 3 : 1);
        young_cycle = cf.valid && cf.rss_line - cf.rss_cycle > 10 * cf.rss_cycle / dof &&
                      cf.peak < cap - shift_threshold;
      }
      if (young_cycle) c.evidence = c.sustained = false;
    }
    if (season.available) {
      c.evidence = c.evidence && season.offset > shift_threshold;
      c.sustained = c.sustained && season.offset > 0;
    }
    const int strength = c.evidence ? 2 : (c.sustained ? 1 : 0);
    // Report the most confidently fast candidate among the strongest verdicts.
    if (strength > 0 &&
        (strength > chosen_strength || (strength == chosen_strength && c.est.low > chosen_low))) {
      chosen = static_cast<int>(k);
      chosen_strength = strength;
      chosen_low = c.est.low;
    }
  }
  // The season's verdict: growth that lifts today above every earlier day at this time, and a
  // forecast of the first peak that reaches capacity. It may reach further ahead than the raw
  // trend (the season explains the cycle); it speaks when it is at least as strong.
  int season_strength = 0;
  if (season.available && season.rate_valid && capacity > 0) {
    const double pct = season.per_hour / cap * 100;
    const double x = options.season_max_extrapolation;
    if (season.offset > shift_threshold && season.per_hour_low > 0 &&
        pct >= options.min_growth_pct_per_h && season.eta_s <= horizon_s &&
        season.eta_s <= x * season.span_s) {
      season_strength = 2;
    } else if (season.offset > 0 && pct >= options.min_growth_pct_per_h / relax &&
               season.eta_s <= horizon_s * relax && season.eta_s <= x * relax * season.span_s) {
      season_strength = 1;
    }
  }
  const Candidate& c = levels[chosen < 0 ? 0 : static_cast<size_t>(chosen)];
  fit_.evidence = std::max(chosen_strength, season_strength) == 2;
  fit_.sustained = std::max(chosen_strength, season_strength) >= 1;

  Trend& t = fit_.trend;
  t.valid = true;
  t.level = c.level;
  t.per_hour = c.est.slope * buckets_per_hour;
  t.per_hour_low = c.est.low * buckets_per_hour;
  t.per_hour_high = c.est.high * buckets_per_hour;
  t.pct_per_hour = capacity == 0 ? 0 : t.per_hour / cap * 100;
  fit_.growing = t.per_hour_low > 0 && t.pct_per_hour >= options.min_growth_pct_per_h;
  t.span_s = c.span_buckets * bucket_s;
  t.points = static_cast<uint32_t>(c.len);
  t.time_wait_per_hour =
      HalfLagSlope(ws->time_wait.data() + (n - c.len), c.len, 0, &ws->scratch).slope *
      buckets_per_hour;

  Forecast& f = fit_.forecast;
  if (season_strength > 0 && season_strength >= chosen_strength) {
    fit_.seasonal = true;
    t.per_hour = season.per_hour;
    t.per_hour_low = season.per_hour_low;
    t.per_hour_high = season.per_hour_high;
    t.pct_per_hour = t.per_hour / cap * 100;
    fit_.growing = t.per_hour_low > 0 && t.pct_per_hour >= options.min_growth_pct_per_h;
    t.span_s = season.span_s;
    f.finite = std::isfinite(season.eta_s);
    f.eta_s = season.eta_s;
    f.eta_early_s = season.eta_early_s;
    f.eta_late_s = season.eta_late_s;
  } else if (capacity > 0 && t.per_hour > 0) {
    // The first peak that crosses the threshold, not the mean: the series' noise around the
    // line (its spread, and how fast it wanders) sets how far below the
    // threshold the mean is when a peak first reaches it (FirstPassageMargin), at the median for
    // the ETA and at the interval's tails for its bounds. The bounds tilt the line about the
    // points' mean time (where its level is best known) to the rate's interval bounds, and move
    // it by the level's own error.
    const size_t len = std::max<size_t>(c.level_len, 1);
    const ResidualNoise noise = MeasureResidualNoise(pts.data() + (n - len), len, c.est.slope,
                                                     c.level, t_now, &ws->scratch);
    const double z = options.interval_z;
    const double tail = 0.5 * std::erfc(z / std::sqrt(2.0));  // one side of the interval
    const double level_center = c.level + c.est.slope * (noise.t_center - t_now);
    // Buckets from now until the line through (t_center, level) with `slope` reaches `target`.
    auto eta_s = [&](double slope, double level, double target) {
      if (!(slope > 0)) return kNever;
      if (!std::isfinite(slope)) return 0.0;
      const double t_cross = noise.t_center + (target - level) / slope;
      return std::max(0.0, t_cross - t_now) * bucket_s;
    };
    f.peak_margin = FirstPassageMargin(noise.sigma, noise.step_sigma, c.est.slope, 0.5);
    f.finite = true;
    f.eta_s = eta_s(c.est.slope, level_center, threshold - f.peak_margin);
    const double high = c.est.interval_high, low = c.est.interval_low;
    f.eta_early_s =
        eta_s(high, level_center + z * noise.level_se,
              threshold - FirstPassageMargin(noise.sigma, noise.step_sigma, high, tail));
    f.eta_late_s =
        eta_s(low, level_center - z * noise.level_se,
              threshold - FirstPassageMargin(noise.sigma, noise.step_sigma, low, 1 - tail));
    f.eta_early_s = std::min(f.eta_early_s, f.eta_s);
    f.eta_late_s = std::max(f.eta_late_s, f.eta_s);
  }
}

size_t TrackedSeries::MemoryBytes() const {
  return sizeof(*this) + ring_.capacity() * sizeof(Slot) + season_.MemoryBytes() +
         history_.MemoryBytes();
}

// --- Soft resets and the trend of minima (envelope.h) -------------------------------------------

void TrackedSeries::RecordReset(const Point* pts, size_t n, int64_t from_bucket, int64_t to_bucket,
                                Boundary end, const SeriesOptions& series, const Options& options,
                                Workspace* ws) {
  // The verdict before the reset, for the settling test: a sustained fit within 2 buckets of the
  // segment's end (a rise that had already stopped, and whose kink is then found as a step, is
  // no verdict to carry; nor is one the recent window shows stopped), after a run of them
  // (gaps under leave_evaluations buckets) of at least 4 * min_dwell_ms (1 h). Noise that
  // happens to read as drift for a while, and resets often (correlated noise), is not held:
  // measured, without that run the hold kept such a host drifting up to 105 h a week. A fit that
  // was itself settling (no fit, or held after an earlier reset) carries nothing new: the one
  // before it still speaks.
  if (!fit_.settling) {
    carry_sustained_ = sustained_ms_ >= (to_bucket - 2) * series.bucket_ms &&
                       sustained_ms_ - sustained_run_ms_ >= 4 * options.min_dwell_ms;
    carried_ = carry_sustained_;
    carry_per_hour_low_ = sustained_per_hour_low_;
    carry_span_ms_ = sustained_span_ms_;
    // A reset the verdict is carried across continues the chain; any other starts a new one.
    if (!carry_sustained_) chain_start_ms_ = to_bucket * series.bucket_ms;
    if (carry_sustained_ && chain_start_ms_ == kNoChain)
      chain_start_ms_ = from_bucket * series.bucket_ms;
  }
  const HeldRange r = HeldRangeOf(pts, n, options.shift_window_buckets, &ws->envelope);
  if (!r.valid) return;
  SegmentRecord rec;
  rec.start_ms = from_bucket * series.bucket_ms;
  rec.end_ms = to_bucket * series.bucket_ms;
  rec.low_ms = static_cast<int64_t>((static_cast<double>(newest_bucket_) + r.low_t) *
                                    static_cast<double>(series.bucket_ms));
  rec.low = static_cast<float>(r.low);
  rec.high = static_cast<float>(r.high);
  rec.end = end;
  history_.Record(rec);
}

void TrackedSeries::ApplySoftReset(uint32_t capacity, const SeriesOptions& series,
                                   const Options& options, Workspace* ws) {
  fit_.settling = fit_.minima = false;
  fit_.troughs = 0;
  if (!history_.empty()) ApplyMinima(capacity, series, options, ws);
  if (fit_.sustained) {
    // What a later reset carries: the rate (on the whole segment: the suffix the fit reports is
    // the most confidently fast of several, biased up), and how long it has been shown, across
    // the soft resets it came through.
    // A rise the recent window shows stopped (the tiers' rule) is no verdict to carry.
    const WindowForecast& w = fit_.recent_window;
    const double rise =
        std::max(fit_.trend.per_hour, fit_.long_window.valid ? fit_.long_window.per_hour : 0.0);
    if (w.valid && w.per_hour_high < 0.5 * rise) return;
    // A run of sustained refits (one bucket apart, or across a settled reset).
    if (last_ms_ - sustained_ms_ >
            static_cast<int64_t>(options.leave_evaluations) * series.bucket_ms &&
        !carried_) {
      sustained_run_ms_ = last_ms_;
    }
    carried_ = false;
    sustained_ms_ = last_ms_;
    // The new segment speaks for itself again: the carried verdict has done its work.
    carry_sustained_ = false;
    const std::vector<Point>& pts = ws->ports;
    sustained_per_hour_low_ =
        fit_.minima ? fit_.trend.per_hour_low
                    : HalfLagSlope(pts.data(), pts.size(), options.confidence_z, &ws->scratch).low *
                          3'600'000.0 / static_cast<double>(series.bucket_ms);
    // Unbounded (too few points on the whole segment): the fit's own bound, else half its rate.
    if (!std::isfinite(sustained_per_hour_low_)) {
      sustained_per_hour_low_ = std::isfinite(fit_.trend.per_hour_low) ? fit_.trend.per_hour_low
                                                                       : 0.5 * fit_.trend.per_hour;
    }
    const int64_t since = chain_start_ms_ == kNoChain ? fit_.segment_start_ms : chain_start_ms_;
    sustained_span_ms_ = std::max(fit_.trend.span_s * 1000, static_cast<double>(last_ms_ - since));
    return;
  }
  if (history_.empty()) return;  // never reset
  // Settling: no fit yet after the reset; or the fit before it was sustained and the new segment
  // is still younger than that segment was, and not clearly slower than it (a deploy step or a
  // gap in a leak that goes on).
  if (!carry_sustained_) return;  // nothing to hold
  if (!fit_.trend.valid) {
    fit_.settling = true;
    return;
  }
  const bool young = static_cast<double>(last_ms_ - fit_.segment_start_ms) < carry_span_ms_;
  if (!young || !(carry_per_hour_low_ > 0)) return;  // nothing to compare with
  // Clearly slower: the two rates' intervals do not overlap. Measured on the whole new segment,
  // not on the suffix the fit reports (the slowest of several recent suffixes would often look
  // slower than a leak that goes on), and at twice the z: the test is repeated every bucket
  // while the segment grows, and one false "slower" would end the hold.
  const std::vector<Point>& pts = ws->ports;
  const SlopeEstimate e =
      HalfLagSlope(pts.data(), pts.size(), 2 * options.confidence_z, &ws->scratch);
  double high = e.high;
  if (!std::isfinite(high) && pts.size() >= 4) {
    // Too few pairs for the rank bound at that z: the normal one from the noise of first
    // differences (a median of m pair slopes over `lag` buckets: 1.25 * sqrt(2) sigma / lag /
    // sqrt(m)), so a rise that clearly stopped ends the hold within min_fit_points buckets.
    const size_t lag = (pts.size() + 1) / 2, pairs = pts.size() - lag;
    const double sigma = DifferenceNoise(pts.data(), pts.size(), &ws->scratch);
    high = e.slope + 2 * options.confidence_z * 1.25 * std::sqrt(2.0) * sigma /
                         static_cast<double>(lag) / std::sqrt(static_cast<double>(pairs));
  }
  const double per_hour_high = high * 3'600'000.0 / static_cast<double>(series.bucket_ms);
  fit_.settling = per_hour_high >= carry_per_hour_low_;
}

void TrackedSeries::ApplyMinima(uint32_t capacity, const SeriesOptions& series,
                                const Options& options, Workspace* ws) {
  // The open segment: ws->ports still holds its points (FitSegment cut them at the change point).
  const std::vector<Point>& pts = ws->ports;
  const size_t m = std::max<size_t>(options.shift_window_buckets, 1);
  OpenSegment open;
  if (pts.size() >= m) {
    const HeldRange r = HeldRangeOf(pts.data(), pts.size(), m, &ws->envelope);
    open.has_range = r.valid;
    open.low = r.low;
    open.low_ms = static_cast<int64_t>((static_cast<double>(newest_bucket_) + r.low_t) *
                                       static_cast<double>(series.bucket_ms));
    ws->scratch.resize(m);
    for (size_t i = 0; i < m; ++i) ws->scratch[i] = pts[pts.size() - m + i].x;
    open.recent_level = MedianInPlace(ws->scratch.data(), m);
  }
  const int64_t window_ms = static_cast<int64_t>(ring_.size()) * series.bucket_ms;
  const MinimaVerdict v =
      history_.Evaluate(open, capacity, shift_threshold_, last_ms_ - window_ms, last_ms_, options);
  if (v.valid) {
    // A sawtooth: each tooth's own fit measures its gross rise; the troughs measure the net
    // growth, and they speak instead, in both directions (evidence and its absence).
    fit_.minima = true;
    fit_.troughs = v.teeth;
    fit_.seasonal = false;
    fit_.evidence = v.evidence;
    fit_.sustained = v.sustained;
    Trend& t = fit_.trend;
    t.valid = true;
    t.level = v.level;
    t.per_hour = v.per_hour;
    t.per_hour_low = v.per_hour_low;
    t.per_hour_high = v.per_hour_high;
    t.pct_per_hour = v.per_hour / static_cast<double>(capacity) * 100;
    t.span_s = v.span_s;
    t.points = v.teeth;
    fit_.growing = t.per_hour_low > 0 && t.pct_per_hour >= options.min_growth_pct_per_h;
    fit_.forecast.finite = std::isfinite(v.eta_s);
    fit_.forecast.eta_s = v.eta_s;
    fit_.forecast.eta_early_s = v.eta_early_s;
    fit_.forecast.eta_late_s = v.eta_late_s;
  }
}

// --- Tiers: the page's and the ticket's windows ------------------------------------------------
// Fixed windows of the newest buckets, read by HostAnalyzer's page (critical: the short and the
// long window both forecast exhaustion within the hour) and ticket (drifting clears once the
// recent window shows the growth stopped). Kept apart from the segment fit above: the windows do
// not choose among suffixes, so each says only what its own span shows.

void TrackedSeries::FitWindows(uint32_t capacity, const SeriesOptions& series,
                               const Options& options, Workspace* ws) {
  fit_.short_window = fit_.long_window = fit_.recent_window = WindowForecast{};
  const std::vector<Point>& pts = ws->ports;
  const double bucket_ms = static_cast<double>(series.bucket_ms);
  const double bucket_s = bucket_ms / 1000.0;
  const double buckets_per_hour = 3600.0 / bucket_s;
  const size_t min_points = std::max<size_t>(options.window_min_points, 4);
  const double t_now =
      static_cast<double>(last_ms_ - newest_bucket_ * series.bucket_ms) / bucket_ms;
  const double cap = static_cast<double>(capacity);
  // A window of `ms` is that many closed buckets (at least min_points), whose points sit at
  // t = -k + 0.5 .. -0.5.
  auto buckets_of = [&](int64_t ms) {
    return std::max<double>(static_cast<double>(min_points),
                            std::ceil(static_cast<double>(ms) / bucket_ms));
  };
  auto eta = [&](WindowForecast* w, double level) {
    if (capacity > 0 && w->per_hour > 0) {
      w->eta_s = std::max(0.0, cap - level) / w->per_hour * 3600;
    }
  };
  // Short and recent: the split-halves slope on the segment's newest buckets. They start at the
  // last change point, so after a step they see the new, flat level, not the jump.
  auto slope_window = [&](int64_t ms, WindowForecast* w) -> double {
    const double from = -buckets_of(ms);
    const auto first = std::lower_bound(pts.begin(), pts.end(), from,
                                        [](const Point& p, double t) { return p.t < t; });
    const size_t len = static_cast<size_t>(pts.end() - first);
    if (len < min_points) return -1;
    const size_t offset = static_cast<size_t>(first - pts.begin());
    const SlopeEstimate e = HalfLagSlope(&*first, len, options.confidence_z, &ws->scratch);
    w->valid = true;
    w->per_hour = e.slope * buckets_per_hour;
    w->per_hour_low = e.low * buckets_per_hour;
    w->per_hour_high = e.high * buckets_per_hour;
    w->time_wait_per_hour =
        HalfLagSlope(ws->time_wait.data() + offset, len, 0, &ws->scratch).slope *
        buckets_per_hour;
    w->span_s = (pts.back().t - first->t + 1) * bucket_s;
    w->points = static_cast<uint32_t>(len);
    return RobustLevelAt(&*first, len, e.slope, t_now, &ws->scratch);
  };
  double level = slope_window(options.short_window_ms, &fit_.short_window);
  if (fit_.short_window.valid && fit_.short_window.per_hour > 0) {
    // Stalled: the newest few buckets against the line of the window's older buckets, carried
    // forward. A running rise keeps them on it; a rise that stopped k buckets ago leaves them
    // short by about k times its slope, which the slope of the whole window, half of whose pairs
    // must be flat before it turns, shows only much later. Against the noise (from first
    // differences) of their median plus the extrapolated line's own error.
    const size_t len = fit_.short_window.points;
    const Point* first = pts.data() + (pts.size() - len);
    const size_t m = std::clamp<size_t>(len / 4, 2, 4);
    const double slope = HalfLagSlope(first, len - m, 0, &ws->scratch).slope;
    const double at_zero = RobustLevelAt(first, len - m, slope, 0, &ws->scratch);
    const double noise = DifferenceNoise(first, len, &ws->scratch);
    ws->scratch.resize(m);
    for (size_t i = 0; i < m; ++i) {
      const Point& p = first[len - m + i];
      ws->scratch[i] = at_zero + slope * p.t - p.x;
    }
    const double shortfall = MedianInPlace(ws->scratch.data(), m);
    fit_.short_window.stalled =
        slope > 0 && shortfall > 3 * noise * std::sqrt(1.5708 / static_cast<double>(m) + 0.1);
  }
  slope_window(options.recent_window_ms, &fit_.recent_window);

  // Long: the ring's newest buckets, across change points. A change point restarts the segment,
  // which would leave the long window as short as the short one right after a step; read across
  // it, a step up is one jump averaged over the whole window, a burst that came back is nothing.
  std::vector<Point>& lp = ws->windows;
  std::vector<double>& ltw = ws->windows_tw;
  lp.clear();
  ltw.clear();
  const int64_t k = std::min<int64_t>(static_cast<int64_t>(buckets_of(options.long_window_ms)),
                                      static_cast<int64_t>(ring_.size()) - 1);
  for (int64_t b = newest_bucket_ - k; b < newest_bucket_; ++b) {
    const Slot& slot = SlotFor(b);
    if (slot.ports == kMissing) continue;
    lp.push_back({static_cast<double>(b - newest_bucket_) + 0.5, static_cast<double>(slot.ports)});
    ltw.push_back(static_cast<double>(slot.time_wait));
  }
  const size_t n = lp.size();
  // At least twice the short window, or it would only repeat the short window's view.
  if (n < min_points || lp.back().t - lp.front().t + 1 < 2 * buckets_of(options.short_window_ms)) {
    if (fit_.short_window.valid) eta(&fit_.short_window, level);
    if (fit_.recent_window.valid) eta(&fit_.recent_window, level);
    return;
  }
  // The average rise between the window's ends, each end the median of a few buckets so one spike
  // does not move it (the burn rate of the window).
  const size_t end =
      std::clamp<size_t>(n / 4, 1, std::max<size_t>(options.shift_window_buckets, 1));
  auto end_median = [&](size_t from, bool time_wait) {
    ws->scratch.resize(end);
    for (size_t i = 0; i < end; ++i) ws->scratch[i] = time_wait ? ltw[from + i] : lp[from + i].x;
    return MedianInPlace(ws->scratch.data(), end);
  };
  const double old_x = end_median(0, false), new_x = end_median(n - end, false);
  const double old_tw = end_median(0, true), new_tw = end_median(n - end, true);
  const double dt = lp[n - end / 2 - 1].t - lp[(end - 1) / 2].t;
  WindowForecast& w = fit_.long_window;
  w.valid = dt > 0;
  if (w.valid) {
    w.per_hour = (new_x - old_x) / dt * buckets_per_hour;
    w.time_wait_per_hour = (new_tw - old_tw) / dt * buckets_per_hour;
  }
  w.span_s = (lp.back().t - lp.front().t + 1) * bucket_s;
  w.points = static_cast<uint32_t>(n);
  // Every window forecasts from the same level: the short window's, else the newest buckets'.
  if (!fit_.short_window.valid) level = new_x;
  eta(&fit_.short_window, level);
  eta(&fit_.recent_window, level);
  eta(&w, level);
}

}  // namespace portwatch::analysis
