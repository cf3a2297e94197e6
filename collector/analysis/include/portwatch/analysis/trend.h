// Robust estimators on a bucketed series: a split-halves Sen slope with a distribution-free
// confidence interval, a robust level, a noise scale from first differences, and a level-shift
// test. Pure functions over arrays, O(n) each (selection by nth_element, no sorting), so a series
// can be refitted every bucket.
#pragma once

#include <cstddef>
#include <vector>

namespace portwatch::analysis {

/// One bucket: its position `t` (in buckets; any origin, strictly increasing) and mean value.
struct Point {
  double t = 0;
  double x = 0;
};

/// A slope (value units per bucket) and its confidence bounds. `low`/`high` are -inf/+inf when
/// there are too few points to bound it at the requested confidence.
struct SlopeEstimate {
  double slope = 0;
  double low = 0;
  double high = 0;
  size_t pairs = 0;
};

/// Split-halves Sen slope: pairs point i with point i + ceil(n/2) (disjoint pairs, one from each
/// half), and takes the median of the pairs' slopes. Under independent noise the pair slopes are
/// independent draws around the true slope, so the order statistics at ranks (m -/+ z*sqrt(m))/2
/// of the m pair slopes bound the median (the sign-test interval). Robust to outliers in up to a
/// quarter of the points. `scratch` is reused to avoid allocating.
SlopeEstimate HalfLagSlope(const Point* points, size_t n, double z, std::vector<double>* scratch);

/// The robust line's value at `t_at`: median of (x - slope * t), plus slope * t_at.
double RobustLevelAt(const Point* points, size_t n, double slope, double t_at,
                     std::vector<double>* scratch);

/// Robust standard deviation of the noise, from the median absolute deviation of first
/// differences divided by sqrt(2): insensitive to trends, slow cycles and isolated steps.
double DifferenceNoise(const Point* points, size_t n, std::vector<double>* scratch);

/// Median of `values` (reorders them). 0 for none.
double MedianInPlace(double* values, size_t n);

/// The test for a level shift between points[c - m, c) and points[c, c + m).
struct LevelShift {
  bool found = false;
  double size = 0;  ///< median after minus median before, less the trend's own rise
};

/// Compares the medians of the m points before index `c` and the m points from `c` on, after
/// removing the rise `slope` (per bucket) predicts between them. A shift is found when its size
/// exceeds `threshold`. Requires m <= c and c + m <= n.
LevelShift TestLevelShift(const Point* points, size_t n, size_t c, size_t m, double slope,
                          double threshold, std::vector<double>* scratch);

/// A least-squares fit of one period of a cycle, x = a + b cos(w t) + c sin(w t), next to the
/// least-squares line, on the same points: how well each explains them and where the cycle peaks.
struct CycleFit {
  bool valid = false;
  double peak = 0;       ///< a + sqrt(b^2 + c^2): the highest the fitted cycle goes
  double rss_cycle = 0;  ///< residual sum of squares of the cycle
  double rss_line = 0;   ///< of the line
};

/// Fits both to `points` (t in buckets, `omega` radians per bucket). O(n).
CycleFit FitCycle(const Point* points, size_t n, double omega);

}  // namespace portwatch::analysis
