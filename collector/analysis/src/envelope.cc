#include "portwatch/analysis/envelope.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace portwatch::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One tooth of a sawtooth: a segment between two downward steps (gaps inside it joined).
struct Tooth {
  double low = 0;
  int64_t low_ms = 0;
  double high = -kInf;
  int64_t high_ms = 0;  // where it ended (its peak comes just before the release)
  bool ended = false;
};

}  // namespace

HeldRange HeldRangeOf(const Point* points, size_t n, size_t m, std::vector<Point>* scratch) {
  HeldRange out;
  if (n == 0) return out;
  m = std::clamp<size_t>(m, 1, n);
  scratch->assign(points, points + n);
  auto by_x = [](const Point& a, const Point& b) { return a.x < b.x; };
  std::nth_element(scratch->begin(), scratch->begin() + static_cast<std::ptrdiff_t>(m - 1),
                   scratch->end(), by_x);
  out.low = (*scratch)[m - 1].x;
  out.low_t = (*scratch)[m - 1].t;
  std::nth_element(scratch->begin(), scratch->begin() + static_cast<std::ptrdiff_t>(n - m),
                   scratch->end(), by_x);
  out.high = (*scratch)[n - m].x;
  out.valid = true;
  return out;
}

void SegmentHistory::Record(const SegmentRecord& r) {
  if (records_.size() == kMaxRecords) records_.erase(records_.begin());
  records_.push_back(r);
}

double SegmentHistory::HighSince(int64_t since_ms) const {
  double best = -kInf;
  for (const SegmentRecord& r : records_) {
    if (r.end_ms >= since_ms) best = std::max(best, static_cast<double>(r.high));
  }
  return best;
}

MinimaVerdict SegmentHistory::Evaluate(const OpenSegment& open, uint32_t capacity, double threshold,
                                       int64_t since_ms, int64_t now_ms,
                                       const Options& options) const {
  MinimaVerdict v;
  if (records_.empty() || capacity == 0) return v;
  // The chain, newest first: the open segment, then ended segments back to the last boundary
  // that is not a release (a step up or a churn step starts a new level: troughs before it say
  // nothing about after). A gap is no release: the segments on both sides are one tooth.
  std::array<Tooth, kMaxRecords + 1> teeth;
  size_t k = 0;
  if (open.has_range) teeth[k++] = Tooth{open.low, open.low_ms, -kInf, 0, false};
  for (size_t i = records_.size(); i-- > 0;) {
    const SegmentRecord& r = records_[i];
    if (r.end_ms < since_ms || r.end == Boundary::kUp || r.end == Boundary::kChurn) break;
    // A segment too short to fit is no tooth (a step found twice, a blip after a release): it
    // joins the tooth after it, like a gap.
    const bool joins = r.end == Boundary::kGap || r.end_ms - r.start_ms < options.min_fit_span_ms;
    if (joins && k > 0) {
      Tooth& t = teeth[k - 1];
      if (r.low < t.low) {
        t.low = r.low;
        t.low_ms = r.low_ms;
      }
      t.high = std::max(t.high, static_cast<double>(r.high));
      continue;
    }
    teeth[k++] = Tooth{r.low, r.low_ms, r.high, r.end_ms, true};
  }
  if (k < kMinTeeth) return v;
  std::reverse(teeth.begin(), teeth.begin() + static_cast<std::ptrdiff_t>(k));
  // Every trough clearly above the one before, and no peak clearly below the one before: net
  // growth, not a level that comes and goes (noise makes troughs rise now and then, not in a
  // row across releases).
  double slow = kInf, fast = -kInf;
  for (size_t j = 1; j < k; ++j) {
    if (teeth[j].low <= teeth[j - 1].low + threshold) return v;
    if (teeth[j].ended && teeth[j].high < teeth[j - 1].high - threshold) return v;
    // A release drops the level: the trough is clearly below the peak before it. (A rise that
    // merely slows, as a cycle does near its peak, can read as a step down from its own trend.)
    if (teeth[j].low >= teeth[j - 1].high - threshold) return v;
    const double dt = static_cast<double>(teeth[j].low_ms - teeth[j - 1].low_ms);
    if (dt <= 0) return v;
    const double s = (teeth[j].low - teeth[j - 1].low) / dt;
    slow = std::min(slow, s);
    fast = std::max(fast, s);
  }
  // The net rate: the median of all pairwise trough slopes (Theil-Sen on a handful of points).
  std::array<double, (kMaxRecords + 1) * kMaxRecords / 2> slopes{};
  size_t ns = 0;
  for (size_t a = 0; a < k; ++a) {
    for (size_t b = a + 1; b < k; ++b) {
      slopes[ns++] =
          (teeth[b].low - teeth[a].low) / static_cast<double>(teeth[b].low_ms - teeth[a].low_ms);
    }
  }
  const double rate = MedianInPlace(slopes.data(), ns);  // ports per ms
  v.valid = true;
  v.teeth = static_cast<uint32_t>(k);
  constexpr double kMsPerHour = 3'600'000.0;
  v.per_hour = rate * kMsPerHour;
  v.per_hour_low = slow * kMsPerHour;
  v.per_hour_high = fast * kMsPerHour;
  v.span_s = static_cast<double>(now_ms - teeth[0].low_ms) / 1000;
  // The peaks rise at the troughs' rate: the newest peak, carried forward, is where the next
  // one will be; a tooth already above that line speaks for itself.
  const Tooth* peak = nullptr;
  for (size_t j = 0; j < k; ++j) {
    if (teeth[j].ended) peak = &teeth[j];
  }
  v.level = peak->high + rate * static_cast<double>(now_ms - peak->high_ms);
  if (open.has_range) v.level = std::max(v.level, open.recent_level);
  const double cap = static_cast<double>(capacity);
  const double room = std::max(0.0, cap - v.level);
  auto eta = [&](double per_hour) { return per_hour > 0 ? room / per_hour * 3600 : kInf; };
  v.eta_s = eta(v.per_hour);
  // The crossing comes during the tooth whose peak would pass capacity, up to one tooth before
  // the peak line passes it: the early bound allows for that.
  double tooth_s = 0;
  for (size_t j = 0; j < k; ++j) {
    if (teeth[j].ended && &teeth[j] != peak) {
      tooth_s = static_cast<double>(peak->high_ms - teeth[j].high_ms) / 1000 /
                static_cast<double>(peak - &teeth[j]);
      break;
    }
  }
  v.eta_early_s = std::max(0.0, eta(v.per_hour_high) - tooth_s);
  v.eta_late_s = eta(v.per_hour_low);
  const double pct = v.per_hour / cap * 100;
  const double horizon_s = static_cast<double>(options.drift_horizon_ms) / 1000;
  const double x = options.minima_max_extrapolation;
  const double relax = options.leave_relax;
  v.evidence =
      pct >= options.min_growth_pct_per_h && v.eta_s <= horizon_s && v.eta_s <= x * v.span_s;
  v.sustained = pct >= options.min_growth_pct_per_h / relax && v.eta_s <= horizon_s * relax &&
                v.eta_s <= x * relax * v.span_s;
  return v;
}

}  // namespace portwatch::analysis
