#include "portwatch/analysis/trend.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace portwatch::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The k-th smallest of values[0, n) (0-based); reorders values.
double KthSmallest(double* values, size_t n, size_t k) {
  std::nth_element(values, values + k, values + n);
  return values[k];
}

}  // namespace

double MedianInPlace(double* values, size_t n) {
  if (n == 0) return 0;
  const size_t mid = n / 2;
  const double upper = KthSmallest(values, n, mid);
  if (n % 2 == 1) return upper;
  // After nth_element everything before `mid` is <= upper: the lower middle is their maximum.
  const double lower = *std::max_element(values, values + mid);
  return (lower + upper) / 2;
}

SlopeEstimate HalfLagSlope(const Point* points, size_t n, double z, std::vector<double>* scratch) {
  SlopeEstimate out;
  if (n < 2) {
    out.low = -kInf;
    out.high = kInf;
    return out;
  }
  const size_t lag = (n + 1) / 2;
  const size_t m = n - lag;
  scratch->resize(m);
  double* s = scratch->data();
  for (size_t i = 0; i < m; ++i) {
    s[i] = (points[i + lag].x - points[i].x) / (points[i + lag].t - points[i].t);
  }
  out.pairs = m;
  // The median first: it partitions the slopes around the middle, so each bound is then
  // selected within its own half, which halves the work of two more full selections.
  out.slope = MedianInPlace(s, m);
  // Neighbouring pair slopes share the noise's autocorrelation: the m slopes are worth
  // m (1 - rho) / (1 + rho) independent ones (rho: lag-1 autocorrelation of the residuals from
  // the median line), so the rank interval widens by sqrt((1 + rho) / (1 - rho)).
  double rho = 0;
  {
    double intercept_sum = 0;
    for (size_t i = 0; i < n; ++i) intercept_sum += points[i].x - out.slope * points[i].t;
    const double mean = intercept_sum / static_cast<double>(n);
    double num = 0, den = 0, prev = 0;
    for (size_t i = 0; i < n; ++i) {
      const double r = points[i].x - out.slope * points[i].t - mean;
      den += r * r;
      if (i > 0) num += r * prev;
      prev = r;
    }
    if (den > 0) rho = std::clamp(num / den, 0.0, 0.95);
  }
  const double half_width =
      z * std::sqrt(static_cast<double>(m) * (1 + rho) / (1 - rho)) / 2;
  const double low_rank = std::floor(static_cast<double>(m) / 2 - half_width);
  if (low_rank < 0) {
    out.low = -kInf;
    out.high = kInf;
  } else {
    const size_t lo = static_cast<size_t>(low_rank);
    const size_t mid = m / 2;  // s[mid] is in place; smaller ranks lie before it
    out.low = lo < mid ? KthSmallest(s, mid, lo) : s[mid];
    const size_t hi = m - 1 - lo;
    out.high = hi > mid ? KthSmallest(s + mid + 1, m - mid - 1, hi - mid - 1) : s[mid];
  }
  return out;
}

double RobustLevelAt(const Point* points, size_t n, double slope, double t_at,
                     std::vector<double>* scratch) {
  scratch->resize(n);
  for (size_t i = 0; i < n; ++i) (*scratch)[i] = points[i].x - slope * points[i].t;
  return MedianInPlace(scratch->data(), n) + slope * t_at;
}

double DifferenceNoise(const Point* points, size_t n, std::vector<double>* scratch) {
  if (n < 3) return 0;
  scratch->resize(n - 1);
  double* d = scratch->data();
  for (size_t i = 0; i + 1 < n; ++i) {
    d[i] = (points[i + 1].x - points[i].x) / (points[i + 1].t - points[i].t);
  }
  const double center = MedianInPlace(d, n - 1);
  for (size_t i = 0; i + 1 < n; ++i) d[i] = std::fabs(d[i] - center);
  // 1.4826 turns a MAD into a normal standard deviation; a difference of two independent
  // values has sqrt(2) times the noise of one.
  return 1.4826 * MedianInPlace(d, n - 1) / std::sqrt(2.0);
}

LevelShift TestLevelShift(const Point* points, size_t n, size_t c, size_t m, double slope,
                          double threshold, std::vector<double>* scratch) {
  LevelShift out;
  if (m == 0 || c < m || c + m > n) return out;
  scratch->resize(2 * m);
  double* before = scratch->data();
  double* after = before + m;
  double t_before = 0;
  double t_after = 0;
  for (size_t i = 0; i < m; ++i) {
    before[i] = points[c - m + i].x;
    after[i] = points[c + i].x;
    t_before += points[c - m + i].t;
    t_after += points[c + i].t;
  }
  const double expected_rise = slope * (t_after - t_before) / static_cast<double>(m);
  out.size = MedianInPlace(after, m) - MedianInPlace(before, m) - expected_rise;
  out.found = std::fabs(out.size) > threshold;
  return out;
}

}  // namespace portwatch::analysis
