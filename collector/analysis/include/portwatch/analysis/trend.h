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
/// there are too few (effective) points to bound it at the requested confidence.
struct SlopeEstimate {
  double slope = 0;
  double low = 0;  ///< bounds at the test's z (HalfLagSlope's `z`)
  double high = 0;
  double interval_low = 0;  ///< bounds at the interval's z (`interval_z`; the test's if 0)
  double interval_high = 0;
  size_t pairs = 0;
  /// How many pair slopes count as one independent one (>= 1): the variance inflation of the
  /// pair slopes' signs from their autocorrelation (LongRunFactor).
  double ess_factor = 1;
};

/// Split-halves Sen slope: pairs point i with point i + ceil(n/2) (disjoint pairs, one from each
/// half), and takes the median of the pairs' slopes. The order statistics at ranks
/// (m -/+ t*sqrt(m f))/2 of the m pair slopes bound the median (the sign-test interval), f being
/// the pair slopes' signs' long-run variance factor (1 under independent noise; larger under
/// autocorrelated noise, measured at as many lags as it lasts) and t the Student quantile for
/// the m / f effective pairs at the normal quantile z. Robust to outliers in up to a quarter of
/// the points. `scratch` is reused to avoid allocating. O(n) plus O(m) per lag the correlation
/// lasts. With `z` <= 0 only the slope is computed (the bounds are -inf/+inf).
SlopeEstimate HalfLagSlope(const Point* points, size_t n, double z, std::vector<double>* scratch,
                           double interval_z = 0);

/// The long-run variance factor of a series: 1 + 2 * sum of its autocorrelations, summed while
/// they stay positive (up to lag n / 4), corrected for the bias of a mean estimated on the same
/// n values (which pulls every sample autocorrelation down by about f / n). 1 for independent
/// values; (1 + phi) / (1 - phi) for AR(1) noise. Clamped to [1, n]. O(n) per lag summed.
/// `lags`, if given, receives how many lags were summed.
double LongRunFactor(const double* values, size_t n, size_t* lags = nullptr);

/// Student's t quantile with `dof` degrees of freedom at the probability of the normal quantile
/// `z` (Cornish-Fisher expansion; within 1% from 3 degrees of freedom, conservative below).
double StudentQuantile(double z, double dof);

/// The noise around a fitted line, for forecasts: its robust standard deviation (MAD of the
/// residuals), the noise of its one-bucket steps (how fast it wanders), its long-run factor and
/// the standard error of the line's level at the points' mean time.
struct ResidualNoise {
  double sigma = 0;
  double step_sigma = 0;  ///< MAD of the residuals' first differences / sqrt(2): sigma if white
  double ess_factor = 1;
  double level_se = 0;
  double t_center = 0;  ///< mean time of the points (the pivot of the line's slope bounds)
};

/// Residuals of `points` from the line with `slope` through `level_at_t_now` at `t_now`.
ResidualNoise MeasureResidualNoise(const Point* points, size_t n, double slope,
                                   double level_at_t_now, double t_now,
                                   std::vector<double>* scratch);

/// The first passage of a noisy rising series over a threshold. The mean rises `rate` per bucket;
/// the noise has standard deviation `sigma` and one-bucket steps of `step_sigma` (as in
/// ResidualNoise). Returns the distance below the threshold at which the mean stands when the
/// series has first crossed it with probability `p`. The noise up-crosses a level u sigma above
/// its mean about step_sigma / (sigma sqrt(pi)) * phi(u) times a bucket (the first-order Rice
/// rate of a sampled Gaussian process), so the expected number of up-crossings before the mean
/// is d below is step_sigma / (rate sqrt(pi)) * (1 - Phi(d / sigma)); it equals -ln(1 - p).
/// Negative when a crossing is likely only after the mean reaches the threshold (a fast rise,
/// little noise); 0 without noise. Bounded to [-4, 8] sigma.
double FirstPassageMargin(double sigma, double step_sigma, double rate, double p);

/// The robust line's value at `t_at`: median of (x - slope * t), plus slope * t_at.
double RobustLevelAt(const Point* points, size_t n, double slope, double t_at,
                     std::vector<double>* scratch);

/// Robust standard deviation of the noise, from the median absolute deviation of first
/// differences divided by sqrt(2): insensitive to trends, slow cycles and isolated steps.
double DifferenceNoise(const Point* points, size_t n, std::vector<double>* scratch);

/// Robust standard deviation of the difference between the medians of two adjacent blocks of `m`
/// points, measured on the series itself: from the MAD of the second differences of consecutive
/// block medians (newest blocks, aligned at the end), over sqrt(3). Where the noise is white it
/// agrees with DifferenceNoise() * 1.2533 * sqrt(2 / m); where it wanders (autocorrelated
/// noise), first differences see only its small steps and this sees the wander. A trend, or a
/// rise that stops, moves one second difference at most, which the MAD ignores. 0 with fewer
/// than 5 blocks.
double BlockDifferenceNoise(const Point* points, size_t n, size_t m, std::vector<double>* scratch);

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
