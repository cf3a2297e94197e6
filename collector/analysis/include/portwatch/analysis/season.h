// The seasonal baseline of one series: a long, coarse ring of slot means (host: 15-minute slots
// over 8 days; destinations and processes: 30-minute slots over 30 hours) and the verdict of a
// rise against the season it holds. The baseline at a time of day is the upper envelope of the
// previous days at that time (the highest of up to 7 days), so a quiet weekend does not lower the
// bar for Monday, and a leak is what lifts today above every earlier day.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "portwatch/analysis/options.h"
#include "portwatch/analysis/trend.h"

namespace portwatch::analysis {

/// What the season says about the newest slots.
struct SeasonVerdict {
  /// At least one earlier period covers the recent slots: the other fields mean something.
  bool available = false;
  /// Median of (value - baseline) over the newest 3 closed slots: how far today is above every
  /// earlier day at this time (ports; negative when below).
  double offset = 0;
  uint32_t days = 0;  ///< earlier periods the baseline at the newest slot was made of
  /// The season-adjusted growth (ports per hour) and its bounds, and the span it was measured
  /// on; valid only when `rate_valid`.
  bool rate_valid = false;
  double per_hour = 0;
  double per_hour_low = 0;
  double per_hour_high = 0;
  double span_s = 0;
  /// First time (seconds from the newest sample) that the baseline's peaks, lifted by the
  /// season-adjusted growth, reach capacity; at the growth's upper and lower bound.
  double eta_s = std::numeric_limits<double>::infinity();
  double eta_early_s = std::numeric_limits<double>::infinity();
  double eta_late_s = std::numeric_limits<double>::infinity();
};

/// A ring of slot means, kept for the seasonal baseline. Samples must come in time order.
class SeasonRing {
 public:
  /// Adds a sample (callers refuse older ones). Returns true when it opened a new slot.
  bool Add(int64_t unix_ms, uint32_t value, const SeriesOptions& series);

  /// Judges the closed slots against the season. `threshold` is the smallest change in level
  /// that is more than noise (ports); `segment_start_ms` the series' last change point (growth
  /// is measured after it, and a level offset counts only when no change point is within a
  /// period). O(slots) plus the forecast scan (horizon / slot times the days held).
  SeasonVerdict Evaluate(uint32_t capacity, double threshold, int64_t segment_start_ms,
                         int64_t last_ms, const SeriesOptions& series, const Options& options,
                         std::vector<Point>* points, std::vector<double>* scratch) const;

  /// FitCycle (trend.h) of one season period on every closed slot the ring holds: on the first
  /// day, all the series' history, even where its fine window is shorter (details: 6 h).
  CycleFit FitHistory(const SeriesOptions& series, const Options& options,
                      std::vector<Point>* points) const;

  /// Heap bytes of the ring (2 bytes a slot).
  size_t MemoryBytes() const { return ring_.capacity() * sizeof(uint16_t); }

 private:
  static constexpr int64_t kNoSlot = std::numeric_limits<int64_t>::min();
  static constexpr uint16_t kMissing = 0xFFFF;
  // The closed slot's mean, or kMissing outside the ring or not closed yet.
  uint16_t Value(int64_t slot) const;
  // The baseline at `slot`: the highest mean of the same time of day in earlier periods that are
  // closed, plus `rate_per_slot` times how many slots back that day is. -inf if none.
  double Baseline(int64_t slot, int64_t period, double rate_per_slot, uint32_t* days) const;

  std::vector<uint16_t> ring_;
  int64_t newest_slot_ = kNoSlot;
  int64_t first_slot_ = kNoSlot;
  uint64_t open_sum_ = 0;
  uint32_t open_count_ = 0;
};

}  // namespace portwatch::analysis
