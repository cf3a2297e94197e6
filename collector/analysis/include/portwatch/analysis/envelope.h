// Soft resets and the lower envelope of a series. A change point or a gap restarts a series' fit,
// but what the ended segments showed is kept, a few numbers each: the level they held low and
// high. From those:
// - the held highs survive the reset: a rise back to a level held before a downward step is a
//   return, not a new high;
// - the trend of minima: the troughs of consecutive segments separated by downward steps (the
//   partial releases of a sawtooth leak). Troughs that keep rising are net growth the per-segment
//   fit cannot see (it measures each tooth's gross rise), and their slope is the net rate.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "portwatch/analysis/options.h"
#include "portwatch/analysis/trend.h"

namespace portwatch::analysis {

/// What ended a segment.
enum class Boundary : uint8_t {
  kDown,   ///< a level shift down (a release, a restart)
  kUp,     ///< a level shift up (new load): the troughs before it say nothing about after
  kChurn,  ///< a step made of TIME_WAIT (the churn model judges it)
  kGap,    ///< no data for longer than gap_reset_ms: the level is unknown, not changed
};

/// One ended segment, as the envelope remembers it.
struct SegmentRecord {
  int64_t start_ms = 0;
  int64_t end_ms = 0;  ///< where the next segment starts
  int64_t low_ms = 0;  ///< time of the held low
  float low = 0;       ///< the level held lowest (the m-th lowest bucket), ports
  float high = 0;      ///< the level held highest (the m-th highest bucket), ports
  Boundary end = Boundary::kGap;
};

/// The m-th lowest and m-th highest of `points` (levels held for about m buckets, so one spike
/// does not count) and the position of that low. `scratch` is reused.
struct HeldRange {
  bool valid = false;
  double low = 0;
  double low_t = 0;
  double high = 0;
};
HeldRange HeldRangeOf(const Point* points, size_t n, size_t m, std::vector<Point>* scratch);

/// The verdict of the trend of minima. Valid only on a sawtooth: at least `kMinTeeth` segments
/// in a row, separated by downward steps (gaps join the two sides into one tooth), whose troughs
/// each rise clearly (by the level-shift threshold) above the one before yet stay clearly below
/// the peak before them (each step released ports), and whose peaks do not fall. Then the net rate is the median of the troughs' pairwise slopes, its bounds the slowest
/// and fastest tooth-to-tooth slope, and the forecast is when the line of the peaks (the newest
/// ended tooth's peak, lifted by the net rate) reaches capacity.
struct MinimaVerdict {
  bool valid = false;
  bool evidence = false;   ///< the strict drift conditions hold on the net rate
  bool sustained = false;  ///< the relaxed ones
  uint32_t teeth = 0;      ///< troughs the trend was measured on
  double per_hour = 0;     ///< net growth, ports per hour
  double per_hour_low = 0;
  double per_hour_high = 0;
  double level = 0;   ///< the peak line now (or the current level, if higher), ports
  double span_s = 0;  ///< from the first trough to now
  double eta_s = std::numeric_limits<double>::infinity();
  double eta_early_s = std::numeric_limits<double>::infinity();
  double eta_late_s = std::numeric_limits<double>::infinity();
};

/// The current (open) segment as the envelope needs it.
struct OpenSegment {
  bool has_range = false;  ///< enough points for a held low
  double low = 0;
  int64_t low_ms = 0;
  double recent_level = 0;  ///< median of the newest buckets (only with has_range)
};

/// The ended segments of one series: at most kMaxRecords, nothing allocated until the first
/// reset. Bounded memory: 40 bytes a record.
class SegmentHistory {
 public:
  static constexpr size_t kMaxRecords = 6;
  static constexpr uint32_t kMinTeeth = 3;

  /// Remembers an ended segment (the oldest is dropped beyond kMaxRecords).
  void Record(const SegmentRecord& r);
  bool empty() const { return records_.empty(); }

  /// The highest level held by an ended segment that ended at or after `since_ms` (-inf if none):
  /// held highs carried across resets.
  double HighSince(int64_t since_ms) const;

  /// Judges the trend of minima over the records that ended at or after `since_ms` and the open
  /// segment. `threshold` is the smallest change in level that is more than noise (ports).
  MinimaVerdict Evaluate(const OpenSegment& open, uint32_t capacity, double threshold,
                         int64_t since_ms, int64_t now_ms, const Options& options) const;

  size_t MemoryBytes() const { return records_.capacity() * sizeof(SegmentRecord); }

 private:
  std::vector<SegmentRecord> records_;
};

}  // namespace portwatch::analysis
