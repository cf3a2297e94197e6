// One tracked series (a host's ephemeral ports, its ports toward one destination, or one
// process's ports): a bounded ring of bucket means, the position of the last change point, and
// the latest trend fit and forecast.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "portwatch/analysis/envelope.h"
#include "portwatch/analysis/options.h"
#include "portwatch/analysis/season.h"
#include "portwatch/analysis/trend.h"

namespace portwatch::analysis {

inline constexpr double kNever = std::numeric_limits<double>::infinity();

/// Growth of a series as measured on its fitted segment.
struct Trend {
  bool valid = false;             ///< enough points after the last change point to measure
  double level = 0;               ///< fitted value at the newest sample (ports), robust to spikes
  double per_hour = 0;            ///< growth in ports per hour (the rate the forecast uses)
  double per_hour_low = 0;        ///< lower confidence bound (may be -inf with few points)
  double per_hour_high = 0;       ///< upper confidence bound (may be +inf)
  double pct_per_hour = 0;        ///< per_hour as percent of capacity per hour
  double time_wait_per_hour = 0;  ///< growth of the TIME_WAIT count over the same points
  double span_s = 0;              ///< time covered by the points the trend was measured on
  uint32_t points = 0;            ///< buckets the trend was measured on
};

/// When the series first reaches the exhaustion threshold (`exhausted_enter_utilization` of its
/// capacity) if it keeps growing at the trend's rate: the first peak of the series with its
/// noise, not the mean's arrival. The bounds are a nominal `interval_z` (90%) interval.
struct Forecast {
  bool finite = false;          ///< growth is positive: exhaustion is forecast
  double eta_s = kNever;        ///< seconds from the newest sample to the first crossing (median)
  double eta_early_s = kNever;  ///< early bound: upper growth bound, a high peak
  double eta_late_s = kNever;   ///< late bound: lower growth bound (never if it is <= 0)
  /// How far below the threshold the trend's mean is expected to be when a peak first reaches it
  /// (ports; 0 for the season-adjusted forecast, whose baseline is already a peak).
  double peak_margin = 0;
};

/// Growth and forecast over one fixed window of the newest buckets: what the alerting tiers
/// (Options::short_window_ms, long_window_ms, recent_window_ms) read.
struct WindowForecast {
  bool valid = false;             ///< the window holds at least window_min_points buckets
  double per_hour = 0;            ///< growth, ports per hour
  double per_hour_low = -kNever;  ///< confidence bounds (short and recent windows; +-inf when
  double per_hour_high = kNever;  ///< too few points, and for the long window's average)
  double time_wait_per_hour = 0;  ///< growth of the TIME_WAIT count over the same buckets
  double eta_s = kNever;          ///< from the newest level at per_hour; never unless it grows
  double span_s = 0;              ///< time the window's buckets cover
  uint32_t points = 0;            ///< buckets in the window
  /// Short window only: the newest few buckets fall clearly (3 standard errors of their median)
  /// below the window's line: the rise stopped within the last few buckets, before the slope
  /// itself, which needs half the window to turn, shows it.
  bool stalled = false;
};

/// The latest evaluation of a series.
struct SeriesFit {
  Trend trend;
  Forecast forecast;
  bool evidence = false;   ///< the strict drift conditions hold (to enter drifting)
  bool sustained = false;  ///< the relaxed conditions hold (to stay drifting)
  /// Significant growth of at least min_growth_pct_per_h, however far exhaustion is: what the
  /// fleet aggregates count, since a detail window is too short to forecast far ahead.
  bool growing = false;
  int64_t segment_start_ms = 0;  ///< start of the data after the last change point
  uint32_t level_shifts = 0;     ///< change points found since the series began
  uint32_t churn_steps = 0;  ///< of the change points, steps made of TIME_WAIT (not counted above)
  /// A period (a day) of history exists: the verdict was checked against the season.
  bool season_available = false;
  /// The trend and forecast are season-adjusted (the season's verdict spoke): the growth is
  /// what lifts today above the earlier days, the forecast the first peak that reaches capacity.
  bool seasonal = false;
  /// How far the series is above the highest of the earlier days at this time (ports).
  double season_offset = 0;
  uint32_t season_days = 0;  ///< earlier days that baseline was made of (up to 7)

  // --- Soft resets and the trend of minima (envelope.h) ---
  /// A change point or a gap restarted the fit while the series had been showing sustained
  /// drift for at least an hour, and the new segment cannot speak yet: too short to fit, or
  /// younger than the run that drift was shown over and not clearly slower than its rate. The
  /// host's drifting decision holds meanwhile.
  bool settling = false;
  /// The trend and forecast are the trend of minima (a sawtooth): the net rate at which the
  /// troughs rise across releases, the forecast where the line of the peaks reaches capacity.
  bool minima = false;
  uint32_t troughs = 0;  ///< troughs the trend of minima was measured on

  // --- Tiers (see Options::short_window_ms) ---
  /// The page's short window: split-halves slope on the newest buckets after the last change
  /// point. Its level at the newest sample is the level every window forecasts from.
  WindowForecast short_window;
  /// The page's long window: the average rise over the newest buckets, across change points.
  WindowForecast long_window;
  /// The ticket's recent window: split-halves slope after the last change point.
  WindowForecast recent_window;
};

/// Reused buffers, so refits do not allocate in steady state. One per thread.
struct Workspace {
  std::vector<Point> ports;
  std::vector<Point> time_wait;
  std::vector<Point> season;
  std::vector<double> scratch;
  std::vector<Point> envelope;     ///< held lows and highs of segments (envelope.h)
  std::vector<Point> windows;      // the long window's ports (FitWindows)
  std::vector<double> windows_tw;  // and TIME_WAIT
};

/// A bucketed series with change-point tracking and a trend fit refreshed when a bucket closes.
/// Samples must come in time order; an older one is refused.
class TrackedSeries {
 public:
  explicit TrackedSeries(uint32_t window_buckets);

  enum class AddResult : uint8_t {
    kRejected,      ///< older than the newest sample: ignored
    kSameBucket,    ///< averaged into the open bucket
    kBucketClosed,  ///< opened a new bucket: the previous ones are final, call Refit()
  };
  /// Adds a sample. Values above 65534 saturate (the rings store 16-bit means).
  AddResult Add(int64_t unix_ms, uint32_t ports, uint32_t time_wait, const SeriesOptions& series,
                const Options& options);

  /// Re-evaluates change points, trend and forecast on the closed buckets. O(window).
  void Refit(uint32_t capacity, const SeriesOptions& series, const Options& options, Workspace* ws);

  const SeriesFit& fit() const { return fit_; }
  uint32_t last_ports() const { return last_ports_; }
  uint32_t last_time_wait() const { return last_time_wait_; }
  int64_t last_ms() const { return last_ms_; }
  bool empty() const { return newest_bucket_ == kNoBucket; }
  /// Heap and object bytes this series holds.
  size_t MemoryBytes() const;

 private:
  static constexpr int64_t kNoBucket = std::numeric_limits<int64_t>::min();
  static constexpr uint16_t kMissing = 0xFFFF;
  struct Slot {
    uint16_t ports = kMissing;
    uint16_t time_wait = 0;
  };

  Slot& SlotFor(int64_t bucket);
  // Closed buckets after the segment start, as points with t relative to the newest bucket.
  void Gather(Workspace* ws) const;
  // Buckets [from, to) that hold data (within the ring), as points like Gather's.
  void GatherRange(int64_t from, int64_t to, std::vector<Point>* ports,
                   std::vector<Point>* time_wait) const;
  // The change points, the trend and the forecast of the current segment.
  void FitSegment(uint32_t capacity, const SeriesOptions& series, const Options& options,
                  Workspace* ws);

  // --- Soft resets (envelope.h) ---
  // Remembers the segment [from_bucket, to_bucket) that a reset ended (`pts`: its points) and
  // the verdict it had.
  void RecordReset(const Point* pts, size_t n, int64_t from_bucket, int64_t to_bucket, Boundary end,
                   const SeriesOptions& series, const Options& options, Workspace* ws);
  // After FitSegment: the trend of minima and the settling state.
  void ApplySoftReset(uint32_t capacity, const SeriesOptions& series, const Options& options,
                      Workspace* ws);
  // The trend of minima (a sawtooth): replaces the verdict, trend and forecast when valid.
  void ApplyMinima(uint32_t capacity, const SeriesOptions& series, const Options& options,
                   Workspace* ws);
  // The alerting tiers' windows (SeriesFit::short_window, long_window, recent_window), from the
  // gathered segment points and, for the long window, the ring itself.
  void FitWindows(uint32_t capacity, const SeriesOptions& series, const Options& options,
                  Workspace* ws);

  std::vector<Slot> ring_;
  int64_t newest_bucket_ = kNoBucket;
  int64_t segment_start_bucket_ = kNoBucket;
  int64_t last_ms_ = std::numeric_limits<int64_t>::min();
  uint64_t open_sum_ = 0;
  uint64_t open_time_wait_sum_ = 0;
  uint32_t open_count_ = 0;
  uint32_t last_ports_ = 0;
  uint32_t last_time_wait_ = 0;
  SeasonRing season_;
  SeriesFit fit_;

  // --- Soft resets (envelope.h) ---
  SegmentHistory history_;
  // A gap reset found by Add, recorded at the next refit: [from, to) buckets.
  bool pending_gap_ = false;
  int64_t pending_from_bucket_ = 0;
  int64_t pending_to_bucket_ = 0;
  // The smallest level change above noise at the last refit (ports).
  double shift_threshold_ = 0;
  // The last sustained verdict: when, its rate's lower bound, how long it had been shown.
  int64_t sustained_ms_ = std::numeric_limits<int64_t>::min() / 2;
  double sustained_per_hour_low_ = 0;
  double sustained_span_ms_ = 0;
  int64_t sustained_run_ms_ = 0;  // start of the run of sustained verdicts that ended there
  bool carried_ = false;          // the last reset carried a verdict (the run goes on)
  // Start of the segments the last sustained verdict was carried across (kNoChain: the segment).
  static constexpr int64_t kNoChain = std::numeric_limits<int64_t>::min();
  int64_t chain_start_ms_ = kNoChain;
  // What the last reset carried of it.
  bool carry_sustained_ = false;
  double carry_per_hour_low_ = 0;
  double carry_span_ms_ = 0;
};

}  // namespace portwatch::analysis
