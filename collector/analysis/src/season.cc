#include "portwatch/analysis/season.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace portwatch::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Earlier periods the baseline looks at: a week, so the weekdays stand over a quiet weekend.
constexpr int64_t kMaxDays = 7;
// Slots whose offsets say where the series is now (their median).
constexpr size_t kRecentSlots = 3;

}  // namespace

bool SeasonRing::Add(int64_t unix_ms, uint32_t value, const SeriesOptions& series) {
  if (series.season_slots == 0 || series.season_slot_ms <= 0) return false;
  if (ring_.empty()) ring_.assign(series.season_slots, kMissing);
  const int64_t n = static_cast<int64_t>(ring_.size());
  const int64_t slot = FloorDiv(unix_ms, series.season_slot_ms);
  bool opened = false;
  if (newest_slot_ == kNoSlot) {
    first_slot_ = slot;
    opened = true;
  } else if (slot > newest_slot_) {
    // Skipped slots hold no data (at most one turn of the ring).
    for (int64_t s = std::max(newest_slot_ + 1, slot - n + 1); s < slot; ++s) {
      ring_[static_cast<size_t>(((s % n) + n) % n)] = kMissing;
    }
    opened = true;
  } else if (slot < newest_slot_) {
    return false;
  }
  if (opened) {
    newest_slot_ = slot;
    open_sum_ = 0;
    open_count_ = 0;
  }
  open_sum_ += value;
  ++open_count_;
  ring_[static_cast<size_t>(((slot % n) + n) % n)] = static_cast<uint16_t>(
      std::min<uint64_t>((open_sum_ + open_count_ / 2) / open_count_, 0xFFFE));
  return opened;
}

uint16_t SeasonRing::Value(int64_t slot) const {
  const int64_t n = static_cast<int64_t>(ring_.size());
  if (newest_slot_ == kNoSlot || slot >= newest_slot_ || slot <= newest_slot_ - n) return kMissing;
  return ring_[static_cast<size_t>(((slot % n) + n) % n)];
}

double SeasonRing::Baseline(int64_t slot, int64_t period, double rate_per_slot,
                            uint32_t* days) const {
  double best = -kInf;
  *days = 0;
  for (int64_t k = 1; k <= kMaxDays; ++k) {
    const int64_t s = slot - k * period;
    if (s >= newest_slot_) continue;  // that day is still to come
    const uint16_t v = Value(s);
    if (v == kMissing) {
      if (s <= newest_slot_ - static_cast<int64_t>(ring_.size())) break;  // older: all gone
      continue;
    }
    ++*days;
    best = std::max(best, static_cast<double>(v) + rate_per_slot * static_cast<double>(k * period));
  }
  return best;
}

CycleFit SeasonRing::FitHistory(const SeriesOptions& series, const Options& options,
                                std::vector<Point>* points) const {
  points->clear();
  if (newest_slot_ == kNoSlot || ring_.empty() || series.season_slot_ms <= 0) return CycleFit{};
  const int64_t n = static_cast<int64_t>(ring_.size());
  for (int64_t s = std::max(first_slot_, newest_slot_ - n + 1); s < newest_slot_; ++s) {
    const uint16_t x = Value(s);
    if (x != kMissing) points->push_back({static_cast<double>(s - newest_slot_), x});
  }
  const double omega = 2 * M_PI * static_cast<double>(series.season_slot_ms) /
                       static_cast<double>(options.season_period_ms);
  return FitCycle(points->data(), points->size(), omega);
}

SeasonVerdict SeasonRing::Evaluate(uint32_t capacity, double threshold, int64_t segment_start_ms,
                                   int64_t last_ms, const SeriesOptions& series,
                                   const Options& options, std::vector<Point>* points,
                                   std::vector<double>* scratch) const {
  SeasonVerdict v;
  if (newest_slot_ == kNoSlot || ring_.empty() || series.season_slot_ms <= 0) return v;
  const int64_t slot_ms = series.season_slot_ms;
  const int64_t period = options.season_period_ms / slot_ms;
  if (period < 4) return v;
  const int64_t end = newest_slot_;  // closed slots are before it

  // Where today stands against every earlier day at the same time: the gate of all drift.
  std::array<double, kRecentSlots> recent{};
  size_t recent_n = 0;
  for (int64_t s = end - 1; s >= end - static_cast<int64_t>(kRecentSlots); --s) {
    const uint16_t x = Value(s);
    uint32_t days = 0;
    const double b = Baseline(s, period, 0, &days);
    if (x == kMissing || days == 0) continue;
    if (recent_n == 0) v.days = days;
    recent[recent_n++] = static_cast<double>(x) - b;
  }
  if (recent_n < 2) return v;
  v.available = true;
  v.offset = MedianInPlace(recent.data(), recent_n);

  // Season-adjusted growth: the offsets over the last period, after the last change point.
  const int64_t seg_slot = FloorDiv(segment_start_ms + slot_ms - 1, slot_ms);
  points->clear();
  for (int64_t s = std::max(end - period, seg_slot); s < end; ++s) {
    const uint16_t x = Value(s);
    uint32_t days = 0;
    const double b = Baseline(s, period, 0, &days);
    if (x == kMissing || days == 0) continue;
    points->push_back({static_cast<double>(s - end) + 0.5, static_cast<double>(x) - b});
  }
  double rate = 0, low = -kInf, high = kInf, span_slots = 0;
  // The forecast's interval (at interval_z; low/high are the test's, at confidence_z).
  double interval_low = -kInf, interval_high = kInf;
  const size_t min_points = std::max<uint32_t>(options.season_min_points, 4);
  // A rise that began within the period shows as a growing offset: the slope of the offsets on
  // the window and its recent halves; the most confident one speaks.
  for (size_t len = points->size(); len >= min_points; len /= 2) {
    const Point* first = points->data() + (points->size() - len);
    const SlopeEstimate e =
        HalfLagSlope(first, len, options.confidence_z, scratch, options.interval_z);
    if (!v.rate_valid || e.low > low) {
      v.rate_valid = true;
      rate = e.slope;
      low = e.low;
      high = e.high;
      interval_low = e.interval_low;
      interval_high = e.interval_high;
      span_slots = points->back().t - first->t + 1;
    }
  }
  // A rise that has gone on for longer than the period keeps today a constant height above
  // yesterday: that height per period is the growth. Only without a change point in the period,
  // which would put its step into the offset.
  if (last_ms - segment_start_ms >= options.season_period_ms && v.offset > threshold) {
    const double p = static_cast<double>(period);
    const double level_low = (v.offset - threshold) / p;
    if (!v.rate_valid || level_low > low) {
      v.rate_valid = true;
      rate = v.offset / p;
      low = interval_low = level_low;
      high = interval_high = (v.offset + threshold) / p;
      span_slots = p;
    }
  }
  if (!v.rate_valid) return v;
  const double slots_per_hour = 3'600'000.0 / static_cast<double>(slot_ms);
  v.per_hour = rate * slots_per_hour;
  v.per_hour_low = low * slots_per_hour;
  v.per_hour_high = high * slots_per_hour;
  v.span_s = span_slots * static_cast<double>(slot_ms) / 1000;
  if (capacity == 0) return v;

  // The first future slot whose baseline (earlier days at that time, each lifted by the growth
  // since) reaches capacity: the first peak that crosses, not the mean.
  const double horizon_ms =
      static_cast<double>(options.drift_horizon_ms) * std::max(1.0, options.leave_relax);
  const int64_t horizon =
      static_cast<int64_t>(std::ceil(horizon_ms / static_cast<double>(slot_ms)));
  // Exhausted is declared at this utilisation: the forecast is of reaching it.
  const double cap = options.exhausted_enter_utilization * static_cast<double>(capacity);
  auto first_crossing = [&](double r) {
    if (!std::isfinite(r)) return r > 0 ? 0.0 : kInf;
    for (int64_t u = newest_slot_; u <= newest_slot_ + horizon; ++u) {
      uint32_t days = 0;
      if (Baseline(u, period, r, &days) >= cap) {
        // A slot's mean stands for its middle.
        const double mid_ms = (static_cast<double>(u) + 0.5) * static_cast<double>(slot_ms);
        return std::max(0.0, (mid_ms - static_cast<double>(last_ms)) / 1000);
      }
    }
    return kInf;
  };
  v.eta_s = first_crossing(rate);
  v.eta_early_s = first_crossing(interval_high);
  v.eta_late_s = first_crossing(interval_low);
  return v;
}

}  // namespace portwatch::analysis
